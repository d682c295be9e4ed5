"""Immediate events: a slow execution or a 5xx raises a notification without a window.

The notification goes to the outbox of the notifications subsystem when that module is
installed. Its key is stable per kind, label set and minute, so a burst of 5xx answers in
one minute makes one notification per label set, not hundreds. Events also arrive from
clients (``record_metrics``), so each instance sends at most ``immediate_max_per_minute``
distinct notifications a minute and remembers what it sent: a storm, or a client varying
labels, costs neither a page per event nor a Firestore write per event. (The ingest raises
nothing for events older than ``immediate_max_age_s``: those are history, not news.)
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["raise_immediate", "reset_gate"]

logger = logging.getLogger(__name__)

_TITLES = {
    "slow_execution": "Execution took {value:.0f} ms",
    "server_error": "Server error {value:.0f}",
}
_KEPT_MINUTES = 3  # events may be up to a couple of minutes old or early


class _Gate:
    """The keys this instance sent per minute, for the last few minutes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: dict[str, set[str]] = {}
        self.dropped: dict[str, int] = {}

    def admit(self, key: str, minute: str, limit: int) -> bool:
        """Return True when ``key`` is new in ``minute`` and the minute has room for it."""
        with self.lock:
            keys = self.sent.setdefault(minute, set())
            while len(self.sent) > _KEPT_MINUTES:
                oldest = min(self.sent)
                del self.sent[oldest]
                self.dropped.pop(oldest, None)
            if key in keys:
                return False
            if len(keys) < limit:
                keys.add(key)
                return True
            self.dropped[minute] = self.dropped.get(minute, 0) + 1
            first_drop = self.dropped[minute] == 1
        if first_drop:
            logger.warning(
                "more than %d immediate events in minute %s: the rest are not sent "
                "(the alert rules still count them)",
                limit,
                minute,
            )
        return False

    def forget(self, key: str, minute: str) -> None:
        # A failed enqueue frees its place, so the next event of the kind tries again.
        with self.lock:
            self.sent.get(minute, set()).discard(key)


_gate = _Gate()


def reset_gate() -> None:
    """Forget what this instance sent (for tests)."""
    global _gate
    _gate = _Gate()


def raise_immediate(
    settings: Settings,
    kind: str,
    labels: Mapping[str, str],
    value: float,
    *,
    at: datetime | None = None,
) -> str | None:
    """Enqueue a notification for an immediate event; return its key, or None if not sent.

    None also when the same notification was sent this minute, or the minute's budget is
    spent. Never raises: a failure to notify must not fail the request being recorded.
    """
    from monitoring.notifiers.model import Notification

    when = at or datetime.now(UTC)
    minute = when.strftime("%Y%m%d%H%M")
    subject = ",".join(f"{name}={labels[name]}" for name in sorted(labels))
    key = f"kpi-immediate:{kind}:{subject}:{minute}"[:500]
    if not _gate.admit(key, minute, settings.kpi.immediate_max_per_minute):
        return None
    notification = Notification(
        key=key,
        kind="alert",
        status="firing",
        severity="warning" if kind == "slow_execution" else "critical",
        title=_TITLES.get(kind, kind).format(value=value) + (f" ({subject})" if subject else ""),
        summary=f"Immediate KPI event {kind}",
        labels={"alertname": kind, "source": "kpi", **labels},
        value=value,
        starts_at=when,
        created_at=when,
    )
    try:
        # Imported by name at call time: the outbox belongs to the notifications subsystem
        # and may be absent from a trimmed deployment.
        outbox = importlib.import_module("monitoring.notifiers.outbox")
    except ImportError:
        logger.warning("immediate event %s not sent: the notifications outbox is missing", kind)
        _gate.forget(key, minute)
        return None
    began = time.perf_counter()
    try:
        outbox.enqueue(settings, notification, now=when)
    except Exception:
        logger.error("could not enqueue immediate event %s", kind, exc_info=True)
        _gate.forget(key, minute)
        return None
    logger.info(
        "immediate event %s enqueued",
        kind,
        extra={"duration_ms": round((time.perf_counter() - began) * 1000, 1)},
    )
    return notification.key
