"""Heartbeats: each Firewatch function invocation leaves a mark the health check reads.

A scheduled function that stops running (a failed deploy, a paused scheduler job) is only
noticed by the absence of its heartbeat, the way cron monitors work.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitoring.store import Collections, firestore_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["read_heartbeats", "write_heartbeat"]


def write_heartbeat(
    settings: Settings,
    name: str,
    *,
    started: datetime,
    finished: datetime,
    success: bool,
    error: str | None = None,
) -> None:
    """Record one finished invocation of function ``name``."""
    from google.cloud import firestore

    update: dict[str, Any] = {
        "function": name,
        "last_started": started,
        "last_finished": finished,
        "last_success": success,
        "last_error": error,
        "runs": firestore.Increment(1),
    }
    if success:
        update["last_success_at"] = finished
    else:
        update["failures"] = firestore.Increment(1)
    doc = firestore_client(settings).collection(Collections.HEARTBEATS).document(name)
    doc.set(update, merge=True)


def read_heartbeats(
    settings: Settings, timeout_s: float | None = None
) -> dict[str, dict[str, Any]]:
    """Return every function's heartbeat document, keyed by function name."""
    collection = firestore_client(settings).collection(Collections.HEARTBEATS)
    docs = collection.stream(timeout=timeout_s)
    return {doc.id: doc.to_dict() or {} for doc in docs}
