"""Keep a health report: as KPIs for alert rules, and in Firestore for the status page.

- KPIs: ``health_checks`` counts each probe result by component and status, and
  ``component_up`` samples 1 / 0.5 / 0 per component, so a rule can say "firestore has been
  down for 5 minutes" (``avg`` of ``component_up`` over a window).
- ``fw_health/last``: the whole report, for the dashboard.
- ``fw_status/components``: component -> status and the time, which the public status page
  reads; it carries no reason, latency, URL or secret.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from monitoring.health.checks import UP_VALUE, HealthReport
from monitoring.store import Collections, firestore_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["LAST_REPORT", "STATUS_DOCUMENT", "publish", "publish_bounded", "record_kpis"]

logger = logging.getLogger(__name__)

LAST_REPORT = "last"
STATUS_DOCUMENT = "components"


def record_kpis(settings: Settings, report: HealthReport, now: datetime) -> int:
    """Record every component's result as KPIs and flush them; return documents written."""
    from monitoring.kpi.recorder import get_recorder

    recorder = get_recorder(settings)
    for check in report.checks:
        recorder.record(
            "health_checks", 1.0, {"component": check.name, "status": check.status}, at=now
        )
        recorder.record("component_up", UP_VALUE[check.status], {"component": check.name}, at=now)
    return recorder.flush(now)


def store_report(settings: Settings, report: HealthReport, now: datetime, timeout_s: float) -> None:
    """Write the detailed report and the public component summary."""
    db = firestore_client(settings)
    summary = {"status": report.status, "components": report.components(), "updated_at": now}
    batch = db.batch()  # one round trip for both documents
    batch.set(db.collection(Collections.HEALTH).document(LAST_REPORT), report.detailed())
    batch.set(db.collection(Collections.STATUS).document(STATUS_DOCUMENT), summary)
    batch.commit(timeout=timeout_s)


def publish(settings: Settings, report: HealthReport, now: datetime) -> list[str]:
    """Store the report and record its KPIs; return what failed (logged, never raised).

    When the Firestore probe itself failed, both writes would only hang on the same outage,
    so they are skipped.
    """
    if _firestore_down(report):
        logger.warning("health report not stored: Firestore is unhealthy")
        return ["store", "kpis"]
    return [name for name, step in _steps(settings, report, now) if not _attempt(name, step)]


def publish_bounded(settings: Settings, report: HealthReport, now: datetime) -> bool:
    """Store the report and record its KPIs at once, waiting at most ``persist_timeout_s``.

    Return True when both finished in time. The two writes are independent, so they run
    side by side; the health answer must stay fast even when a write is slow, and an
    unfinished write carries on in its daemon thread.
    """
    if _firestore_down(report):
        logger.warning("health report not stored: Firestore is unhealthy")
        return False
    limit = settings.health.persist_timeout_s
    threads = [
        threading.Thread(target=_attempt, args=step, name=f"health-{step[0]}", daemon=True)
        for step in _steps(settings, report, now)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + limit
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        logger.warning("storing the health report took over %.1f s", limit)
        return False
    return True


def _firestore_down(report: HealthReport) -> bool:
    firestore = report.component("firestore")
    return firestore is not None and firestore.status == "unhealthy"


def _steps(
    settings: Settings, report: HealthReport, now: datetime
) -> list[tuple[str, Callable[[], object]]]:
    timeout = settings.health.persist_timeout_s
    return [
        ("store", lambda: store_report(settings, report, now, timeout)),
        ("kpis", lambda: record_kpis(settings, report, now)),
    ]


def _attempt(name: str, step: Callable[[], object]) -> bool:
    try:
        step()
    except Exception:
        logger.error("could not %s the health report", _VERBS[name], exc_info=True)
        return False
    return True


_VERBS = {"store": "store", "kpis": "record the KPIs of"}
