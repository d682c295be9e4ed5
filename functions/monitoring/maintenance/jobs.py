"""The daily, weekly and monthly maintenance jobs (``daily_maintenance`` and friends).

Each job runs its parts in isolation (``run_sections``), stores the report in
``fw_reports/<kind>-<period>`` and queues it for the report receivers. Re-running a job for
the same period overwrites the report and sends nothing twice (notification keys are per
report id).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitoring.clock import as_utc
from monitoring.maintenance import daily
from monitoring.maintenance.report import (
    Report,
    Section,
    SectionFn,
    overall,
    run_sections,
    send_report,
    store_report,
)

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["build_daily", "run_daily", "run_monthly", "run_weekly"]

logger = logging.getLogger(__name__)

Part = tuple[str, str, SectionFn]


def daily_parts(settings: Settings, now: datetime) -> list[Part]:
    return [
        ("health", "Health", lambda: daily.health_section(settings, now)),
        ("kpis", "KPIs", lambda: daily.kpi_section(settings, now)),
        ("cost", "Cost", lambda: daily.cost_section(settings, now)),
        ("security", "Security", lambda: daily.security_section(settings, now)),
        ("dependencies", "Dependency audit", lambda: daily.dependency_section(settings, now)),
        ("backups", "Backups", lambda: daily.backup_section(settings, now)),
        ("incidents", "Incidents and status", lambda: daily.incident_section(settings, now)),
    ]


def _finish(
    settings: Settings,
    kind: str,
    report_id: str,
    title: str,
    period: tuple[datetime, datetime],
    sections: list[Section],
    now: datetime,
    send: bool,
) -> Report:
    report = Report(
        id=report_id,
        kind=kind,
        title=title,
        period_start=period[0],
        period_end=period[1],
        generated_at=now,
        status=overall(sections),
        sections=sections,
    )
    store_report(settings, report)
    if send:
        try:
            send_report(settings, report, now)
        except Exception:
            # The report is stored; losing the email must not lose the report.
            logger.error("could not queue report %s", report.id, exc_info=True)
    logger.info("%s report %s: %s", kind, report.id, report.status, extra={"report": report.id})
    return report


def build_daily(
    settings: Settings, now: datetime, *, parts: Sequence[Part] | None = None, send: bool = True
) -> Report:
    """Build, store and send the daily report covering the last complete UTC day.

    ``parts`` replaces the default sections (tests and the CLI's ``--only`` use it).
    """
    now = as_utc(now)
    day = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    sections = run_sections(parts if parts is not None else daily_parts(settings, now))
    return _finish(
        settings,
        "daily",
        f"daily-{day:%Y-%m-%d}",
        f"Daily report for {day:%Y-%m-%d}",
        (day, day + timedelta(days=1)),
        sections,
        now,
        send,
    )


def run_daily(settings: Settings, now: datetime) -> Report:
    return build_daily(settings, now)


def run_weekly(settings: Settings, now: datetime, *, send: bool = True) -> Report:
    """Build the weekly capacity report: growth of storage, executions and cost, projected."""
    from monitoring.maintenance.capacity import capacity_section

    now = as_utc(now)
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(weeks=settings.maintenance.capacity_weeks)
    iso = (end - timedelta(days=1)).isocalendar()
    sections = run_sections(
        [("capacity", "Capacity trends", lambda: capacity_section(settings, start, end))]
    )
    return _finish(
        settings,
        "weekly",
        f"weekly-{iso.year}-W{iso.week:02d}",
        f"Weekly capacity report, week {iso.week} of {iso.year}",
        (start, end),
        sections,
        now,
        send,
    )


def run_monthly(settings: Settings, now: datetime, *, send: bool = True) -> Report:
    """Build the monthly report: the restore drill and the month's incidents."""
    from monitoring.maintenance.drill import incidents_month_section, restore_drill_section

    now = as_utc(now)
    end = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (end - timedelta(days=1)).replace(day=1)
    sections = run_sections(
        [
            ("restore_drill", "Restore drill", lambda: restore_drill_section(settings, now)),
            (
                "incidents",
                "Incidents of the month",
                lambda: incidents_month_section(settings, start, end),
            ),
        ]
    )
    return _finish(
        settings,
        "monthly",
        f"monthly-{start:%Y-%m}",
        f"Monthly report for {start:%B %Y}",
        (start, end),
        sections,
        now,
        send,
    )
