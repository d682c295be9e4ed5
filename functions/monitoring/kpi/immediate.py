"""Immediate events: a slow execution or a 5xx raises a notification without a window.

The notification goes to the outbox of the notifications subsystem when that module is
installed; its key is stable per kind, label set and minute, so a burst of 5xx answers in
one minute makes one notification, not hundreds.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["raise_immediate"]

logger = logging.getLogger(__name__)

_TITLES = {
    "slow_execution": "Execution took {value:.0f} ms",
    "server_error": "Server error {value:.0f}",
}


def raise_immediate(
    settings: Settings,
    kind: str,
    labels: Mapping[str, str],
    value: float,
    *,
    at: datetime | None = None,
) -> str | None:
    """Enqueue a notification for an immediate event; return its key, or None if not sent.

    Never raises: a failure to notify must not fail the request that was being recorded.
    """
    from monitoring.notifiers.model import Notification

    when = at or datetime.now(UTC)
    minute = when.strftime("%Y%m%d%H%M")
    subject = ",".join(f"{name}={labels[name]}" for name in sorted(labels))
    notification = Notification(
        key=f"kpi-immediate:{kind}:{subject}:{minute}"[:500],
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
        return None
    began = time.perf_counter()
    try:
        outbox.enqueue(settings, notification, now=when)
    except Exception:
        logger.error("could not enqueue immediate event %s", kind, exc_info=True)
        return None
    logger.info(
        "immediate event %s enqueued",
        kind,
        extra={"duration_ms": round((time.perf_counter() - began) * 1000, 1)},
    )
    return notification.key
