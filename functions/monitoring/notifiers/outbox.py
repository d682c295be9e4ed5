"""The Firestore outbox: a notification is stored before anything is sent.

``fw_outbox/<id>`` holds one notification and, per receiver, its delivery state
(``pending``, ``delivered`` or ``dead``), attempts, next attempt and last error. The id is a
hash of the notification's key and status, so enqueueing the same notification twice stores
it once, while the "resolved" of an episode is a message of its own. ``fw_deliveries/<id>``
is created in the same write and outlives the outbox document: it is what makes a late
duplicate enqueue a no-op and what an operator reads afterwards. Delivery is in ``jobs``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitoring.clock import as_utc, floor_minute
from monitoring.errors import ConfigError
from monitoring.notifiers.model import Notification
from monitoring.notifiers.routing import Routing, load_routing
from monitoring.store import Collections, firestore_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["RETENTION", "enqueue", "enqueue_many", "outbox_id", "pending_entry", "routing_for"]

logger = logging.getLogger(__name__)

RETENTION = timedelta(days=30)  # fw_deliveries.expire_at, for a Firestore TTL policy

_routing_lock = threading.Lock()
_routing_cache: dict[Path, tuple[float, Routing]] = {}


def outbox_id(notification: Notification) -> str:
    """Return the document id: the same for the same key and status, whoever enqueues."""
    raw = f"{notification.key}\x00{notification.status}".encode()
    return hashlib.sha256(raw).hexdigest()[:40]


def routing_for(settings: Settings) -> Routing:
    """Return the routing of ``settings.alerts_file``, re-read when the file changes."""
    path = Path(settings.alerts_file)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise ConfigError(f"{path}: alerts file not found") from None
    with _routing_lock:
        cached = _routing_cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
    routing = load_routing(path)
    with _routing_lock:
        _routing_cache[path] = (mtime, routing)
    return routing


def pending_entry(now: datetime, via: str | None = None, note: str = "") -> dict[str, Any]:
    return {
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "delivered_at": None,
        "via": via,
        "note": note,
    }


def enqueue(
    settings: Settings,
    notification: Notification,
    receivers: Sequence[str] | None = None,
    *,
    now: datetime | None = None,
    chain: Sequence[str] = (),
    client: Any = None,
) -> str:
    """Store ``notification`` for delivery to ``receivers`` and return its outbox id.

    ``receivers`` None routes by ``alerts.yaml``. Idempotent: the same key and status
    enqueued again (even after delivery) stores nothing new. ``chain`` lists receivers that
    must never carry this notification (the failed channels a failure notice is about).
    Raises ``ConfigError`` for an unknown receiver name.
    """
    from google.api_core.exceptions import AlreadyExists, Conflict

    db = client or firestore_client(settings)
    batch = db.batch()
    doc_id, added = _add(settings, batch, db, notification, receivers, now, chain)
    if not added:
        return doc_id
    try:
        batch.commit()
    except (AlreadyExists, Conflict):
        logger.debug("notification %s already enqueued", notification.key)
    return doc_id


def _add(
    settings: Settings,
    batch: Any,
    db: Any,
    notification: Notification,
    receivers: Sequence[str] | None,
    now: datetime | None,
    chain: Sequence[str],
) -> tuple[str, bool]:
    """Add the two creates of one notification to ``batch``; return its outbox id and
    whether anything was added (nothing when no receiver is left)."""
    # Due from the start of its minute: a drain for the same scheduler slot (whose time is
    # the slot's, not the wall clock's) delivers it at once.
    now = floor_minute(as_utc(now or notification.created_at))
    doc_id = outbox_id(notification)
    routing = routing_for(settings)
    names = list(routing.route(notification) if receivers is None else receivers)
    unknown = [name for name in names if name not in routing.receivers]
    if unknown:
        raise ConfigError(f"{settings.alerts_file}: no receiver named {', '.join(unknown)}")
    names = [name for name in dict.fromkeys(names) if name not in chain]
    if not names:
        logger.info(
            "no receiver for notification %s", notification.key, extra={"outbox_id": doc_id}
        )
        return doc_id, False

    stored = notification.model_dump(mode="json")
    batch.create(
        db.collection(Collections.DELIVERIES).document(doc_id),
        {
            "key": notification.key,
            "status": notification.status,
            "title": notification.title,
            "receivers": dict.fromkeys(names, "pending"),
            "created_at": now,
            "expire_at": now + RETENTION,
        },
    )
    batch.create(
        db.collection(Collections.OUTBOX).document(doc_id),
        {
            "key": notification.key,
            "notification": stored,
            "created_at": now,
            "next_attempt_at": now,
            "chain": list(chain),
            "receivers": {name: pending_entry(now) for name in names},
        },
    )
    return doc_id, True


def enqueue_many(
    settings: Settings,
    notifications: Sequence[Notification],
    receivers: Sequence[str] | None = None,
    *,
    now: datetime | None = None,
    chunk: int = 200,
) -> list[str]:
    """Enqueue each notification as ``enqueue`` does and return the ids in order.

    Notifications are written ``chunk`` at a time in one atomic batch; a chunk that meets a
    duplicate fails whole and is then enqueued one by one, so each stays idempotent.
    """
    from google.api_core.exceptions import AlreadyExists, Conflict

    db = firestore_client(settings)
    ids: list[str] = []
    for start in range(0, len(notifications), chunk):
        part = notifications[start : start + chunk]
        batch, part_ids, writes = db.batch(), [], 0
        for n in part:
            if (doc_id := outbox_id(n)) in part_ids:
                part_ids.append(doc_id)  # the same notification twice in one call
                continue
            part_ids.append(doc_id)
            writes += _add(settings, batch, db, n, receivers, now, ())[1]
        if not writes:
            ids += part_ids
            continue
        try:
            batch.commit()
        except (AlreadyExists, Conflict):
            part_ids = [enqueue(settings, n, receivers, now=now, client=db) for n in part]
        ids += part_ids
    return ids
