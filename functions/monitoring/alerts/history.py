"""Alert history: every transition with its time, value and rule version, for reports."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from monitoring.clock import as_utc
from monitoring.store import Collections

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["HistoryEntry", "query_history"]


class HistoryEntry(BaseModel):
    id: str
    rule: str
    fingerprint: str
    labels: dict[str, str]
    severity: str
    from_state: str
    to_state: str
    at: datetime
    value: float | None = None
    no_data: bool = False
    rule_version: str
    episode: int
    suppressed_by: str | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> HistoryEntry:
        values = dict(doc)
        values["from_state"], values["to_state"] = values.pop("from"), values.pop("to")
        values["at"] = as_utc(values["at"])
        return cls.model_validate(values)


def query_history(
    settings: Settings,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    rule: str | None = None,
    limit: int = 1000,
    client: Any = None,
) -> list[HistoryEntry]:
    """Return transitions in ``[since, until)``, oldest first, optionally for one rule."""
    from google.cloud.firestore import FieldFilter

    from monitoring.store import firestore_client

    query: Any = (client or firestore_client(settings)).collection(Collections.ALERT_HISTORY)
    if since is not None:
        query = query.where(filter=FieldFilter("at", ">=", as_utc(since)))
    if until is not None:
        query = query.where(filter=FieldFilter("at", "<", as_utc(until)))
    query = query.order_by("at").limit(limit)
    entries = [HistoryEntry.from_doc(snap.to_dict()) for snap in query.stream()]
    return [e for e in entries if rule is None or e.rule == rule]
