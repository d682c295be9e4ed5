"""Demo data for trying Firewatch locally: a few users of the reference "RAG Prompt Library".

``seed`` writes users, prompts, prompt executions and documents (owned through ``userId``, as
``firestore.rules`` and the backup settings expect); ``damage`` deletes and changes one user's
documents, so a restore has something to bring back. Only for emulators: both refuse to run
against a real project.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitoring.errors import ConfigError
from monitoring.store import firestore_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["DEMO_USERS", "damage", "seed"]

DEMO_USERS = ("alice", "bob", "carol")
MODELS = ("openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet", "meta-llama/llama-3.1-70b")


def _require_emulator(settings: Settings) -> None:
    if not settings.is_emulated:
        raise ConfigError(
            "demo data is written only to the Firestore emulator; start `make run` first "
            "(or set FIRESTORE_EMULATOR_HOST)"
        )


def seed(settings: Settings, now: datetime, prompts_per_user: int = 3) -> dict[str, int]:
    """Write the demo users' documents; return how many of each kind were written.

    Idempotent: document ids are fixed, so seeding twice leaves the same data.
    """
    _require_emulator(settings)
    db = firestore_client(settings)
    batch = db.batch()
    counts = {"users": 0, "prompts": 0, "executions": 0, "documents": 0}
    for u, uid in enumerate(DEMO_USERS):
        batch.set(
            db.collection("users").document(uid),
            {"displayName": uid.title(), "plan": "pro" if u == 0 else "free", "createdAt": now},
        )
        counts["users"] += 1
        for p in range(prompts_per_user):
            prompt_id = f"{uid}-prompt-{p}"
            batch.set(
                db.collection("prompts").document(prompt_id),
                {
                    "userId": uid,
                    "title": f"{uid.title()}'s prompt {p}",
                    "template": "Summarise {{document}} in {{n}} bullet points.",
                    "updatedAt": now - timedelta(days=p),
                },
            )
            counts["prompts"] += 1
            for e in range(2):
                execution: dict[str, Any] = {
                    "userId": uid,
                    "promptId": prompt_id,
                    "model": MODELS[(p + e) % len(MODELS)],
                    "tokens": 400 + 50 * e,
                    "costUsd": round(0.002 * (p + 1) * (e + 1), 4),
                    "at": now - timedelta(hours=e),
                }
                batch.set(db.collection("executions").document(f"{prompt_id}-run-{e}"), execution)
                counts["executions"] += 1
        batch.set(
            db.collection("documents").document(f"{uid}-doc-0"),
            {"userId": uid, "name": "handbook.pdf", "bytes": 182_044, "status": "processed"},
        )
        counts["documents"] += 1
    batch.commit()
    return counts


def damage(settings: Settings, uid: str) -> dict[str, int]:
    """Delete ``uid``'s prompts and change their documents, as a bad release might."""
    _require_emulator(settings)
    from google.cloud.firestore_v1.base_query import FieldFilter

    db = firestore_client(settings)
    owned = FieldFilter("userId", "==", uid)
    deleted = changed = 0
    for snap in db.collection("prompts").where(filter=owned).stream():
        snap.reference.delete()
        deleted += 1
    for snap in db.collection("documents").where(filter=owned).stream():
        snap.reference.update({"status": "corrupted", "bytes": 0})
        changed += 1
    return {"deleted": deleted, "changed": changed}
