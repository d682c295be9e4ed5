"""The bodies of the deployed functions, one short function each.

``functions/main.py`` declares the triggers and calls these. Each opens an ``invocation``
(settings, logging, timing, heartbeat) and hands over to the subsystem that does the work,
imported only when the function runs, so an instance loads just the code it uses.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from monitoring.http import guarded
from monitoring.runtime import invocation

if TYPE_CHECKING:
    from flask import Request, Response

__all__ = [
    "compact_kpis",
    "daily_maintenance",
    "dashboard",
    "deliver_notifications",
    "evaluate_alerts",
    "health_check",
    "monthly_maintenance",
    "probe_health",
    "record_metrics",
    "scheduled_backup",
    "status_page",
    "weekly_maintenance",
]


# HTTP functions --------------------------------------------------------------------------


@guarded("health_check")
def health_check(request: Request) -> Response:
    from monitoring.health.endpoint import handle

    with invocation("health_check") as call:
        response: Response = handle(request, call.settings, call.clock)
        return response


@guarded("record_metrics")
def record_metrics(request: Request) -> Response:
    from monitoring.kpi.ingest import handle

    with invocation("record_metrics") as call:
        response: Response = handle(request, call.settings, call.clock)
        return response


@guarded("dashboard")
def dashboard(request: Request) -> Response:
    from monitoring.dashboard.endpoint import handle

    with invocation("dashboard") as call:
        response: Response = handle(request, call.settings, call.clock)
        return response


@guarded("status_page")
def status_page(request: Request) -> Response:
    from monitoring.incidents.status_page import handle

    with invocation("status_page") as call:
        response: Response = handle(request, call.settings, call.clock)
        return response


# Scheduled functions ---------------------------------------------------------------------
# ``scheduled_at`` is the slot Cloud Scheduler fired for; jobs use it (not the wall clock)
# to stay idempotent when the scheduler delivers the same slot twice.


def evaluate_alerts(scheduled_at: datetime) -> None:
    from monitoring.alerts.jobs import run_evaluation
    from monitoring.incidents.service import tick_guarded

    with invocation("evaluate_alerts") as call:
        run_evaluation(call.settings, now=scheduled_at)
        # Escalations, status reminders and quiet-period closes need minute precision.
        tick_guarded(call.settings, now=scheduled_at)


def probe_health(scheduled_at: datetime) -> None:
    # Without this, component status, the uptime KPIs and the rules that read them would
    # depend on someone polling health_check.
    from monitoring.health.checks import run_checks
    from monitoring.health.publish import publish_bounded

    with invocation("probe_health") as call:
        publish_bounded(call.settings, run_checks(call.settings, scheduled_at), scheduled_at)


def deliver_notifications(scheduled_at: datetime) -> None:
    from monitoring.notifiers.jobs import drain_outbox

    with invocation("deliver_notifications") as call:
        drain_outbox(call.settings, now=scheduled_at)


def scheduled_backup(scheduled_at: datetime) -> None:
    from monitoring.backups.jobs import run_scheduled_backup

    with invocation("scheduled_backup") as call:
        run_scheduled_backup(call.settings, slot=scheduled_at)


def compact_kpis(scheduled_at: datetime) -> None:
    from monitoring.kpi.jobs import run_compaction

    with invocation("compact_kpis") as call:
        run_compaction(call.settings, now=scheduled_at)


def daily_maintenance(scheduled_at: datetime) -> None:
    from monitoring.maintenance.jobs import run_daily

    with invocation("daily_maintenance") as call:
        run_daily(call.settings, now=scheduled_at)


def weekly_maintenance(scheduled_at: datetime) -> None:
    from monitoring.maintenance.jobs import run_weekly

    with invocation("weekly_maintenance") as call:
        run_weekly(call.settings, now=scheduled_at)


def monthly_maintenance(scheduled_at: datetime) -> None:
    from monitoring.maintenance.jobs import run_monthly

    with invocation("monthly_maintenance") as call:
        run_monthly(call.settings, now=scheduled_at)
