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
    firestore = report.component("firestore")
    if firestore is not None and firestore.status == "unhealthy":
        logger.warning("health report not stored: Firestore is unhealthy")
        return ["store", "kpis"]

    failed = []
    try:
        store_report(settings, report, now, settings.health.persist_timeout_s)
    except Exception:
        logger.error("could not store the health report", exc_info=True)
        failed.append("store")
    try:
        record_kpis(settings, report, now)
    except Exception:
        logger.error("could not record the health KPIs", exc_info=True)
        failed.append("kpis")
    return failed


def publish_bounded(settings: Settings, report: HealthReport, now: datetime) -> bool:
    """Run ``publish`` but wait for it no longer than ``persist_timeout_s``.

    Return True when it finished in time. The health answer must stay fast even when a
    write is slow; an unfinished publish carries on in its daemon thread.
    """
    thread = threading.Thread(
        target=publish, args=(settings, report, now), name="health-publish", daemon=True
    )
    thread.start()
    thread.join(timeout=settings.health.persist_timeout_s)
    if thread.is_alive():
        logger.warning(
            "storing the health report took over %.1f s", settings.health.persist_timeout_s
        )
        return False
    return True
