"""Backups fixtures: a small app database of users, prompts, executions and documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from monitoring.config import Settings
from monitoring.store import firestore_client


class FakeRecorder:
    """Stands in for the KPI recorder so tests see what a backup counted."""

    def __init__(self) -> None:
        self.recorded: list[tuple[str, float, dict[str, str]]] = []

    def record(
        self,
        metric: str,
        value: float = 1.0,
        labels: Any = None,
        *,
        at: datetime | None = None,
        distinct_id: str | None = None,
    ) -> None:
        self.recorded.append((metric, value, dict(labels or {})))

    def flush(self, now: datetime | None = None) -> int:
        return 0


@pytest.fixture
def kpis(monkeypatch: pytest.MonkeyPatch) -> FakeRecorder:
    import monitoring.kpi.recorder as recorder_module

    fake = FakeRecorder()
    monkeypatch.setattr(recorder_module, "get_recorder", lambda settings: fake, raising=False)
    return fake


@dataclass
class App:
    """The seeded database, with the server time of the last seed write."""

    settings: Settings
    seeded_at: datetime
    paths: dict[str, list[str]] = field(default_factory=dict)


def seed(settings: Settings, users: tuple[str, ...] = ("u1", "u2")) -> App:
    db = firestore_client(settings)
    app = App(settings, seeded_at=datetime.min)
    result: Any = db.collection("config").document("app").set({"version": 3})  # not user data
    for uid in users:
        paths = app.paths.setdefault(uid, [])
        result = db.collection("users").document(uid).set({"name": uid.upper(), "plan": "free"})
        paths.append(f"users/{uid}")
        for n in range(3):
            pid, eid, did = f"{uid}-p{n}", f"{uid}-e{n}", f"{uid}-d{n}"
            db.collection("prompts").document(pid).set({"userId": uid, "text": f"prompt {n}"})
            db.collection("executions").document(eid).set(
                {"userId": uid, "promptId": pid, "tokens": n * 10, "at": datetime(2026, 3, 1)}
            )
            result = (
                db.collection("documents")
                .document(did)
                .set({"userId": uid, "body": b"\x00bytes", "tags": ["a", n]})
            )
            paths += [f"prompts/{pid}", f"executions/{eid}", f"documents/{did}"]
        result = db.document(f"users/{uid}/notes/n1").set({"text": "a note"})
        paths.append(f"users/{uid}/notes/n1")
    app.seeded_at = result.update_time
    return app
