"""The recovery audit log (``fw_audit``): who did what, when, and how it ended."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitoring.store import Collections, firestore_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["list_audit", "write_audit"]


def write_audit(
    settings: Settings,
    *,
    actor: str,
    action: str,
    target: str,
    result: str,
    at: datetime,
    detail: Mapping[str, Any] | None = None,
) -> str:
    """Append one entry and return its id. ``result`` is "ok", "failed" or "dry-run"."""
    entry_id = f"{at:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
    firestore_client(settings).collection(Collections.AUDIT).document(entry_id).set(
        {
            "at": at,
            "actor": actor,
            "action": action,
            "target": target,
            "result": result,
            "detail": dict(detail or {}),
        }
    )
    return entry_id


def list_audit(settings: Settings, *, limit: int = 100) -> list[dict[str, Any]]:
    """Return the newest ``limit`` entries, newest first."""
    from google.cloud import firestore

    query = (
        firestore_client(settings)
        .collection(Collections.AUDIT)
        .order_by("at", direction=firestore.Query.DESCENDING)
        .limit(limit)
    )
    return [{"id": s.id, **(s.to_dict() or {})} for s in query.stream()]
