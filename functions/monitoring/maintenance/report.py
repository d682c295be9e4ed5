"""The maintenance report: sections run in isolation, stored, rendered and sent.

A section is a function returning a ``Section``. ``run_sections`` runs each one on its own:
a section that raises becomes a section with status ``error`` and a one-line reason, and
the others still run, so one broken dependency never costs the whole report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from monitoring.errors import ConfigError
from monitoring.store import Collections, firestore_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["Report", "Section", "SectionStatus", "run_sections", "send_report", "store_report"]

logger = logging.getLogger(__name__)

SectionStatus = Literal["ok", "warn", "fail", "skipped", "error"]
_RANK: dict[str, int] = {"ok": 0, "skipped": 0, "warn": 1, "fail": 2, "error": 2}


class Section(BaseModel):
    key: str
    title: str
    status: SectionStatus = "ok"
    summary: str = ""
    columns: list[str] = Field(default_factory=list)
    rows: list[list[str]] = Field(default_factory=list)
    # Concrete things to do, drawn from the data.
    recommendations: list[str] = Field(default_factory=list)
    error: str | None = None
    duration_ms: float = 0.0


class Report(BaseModel):
    id: str
    kind: Literal["daily", "weekly", "monthly"]
    title: str
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    status: SectionStatus
    sections: list[Section]

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)


SectionFn = Callable[[], Section]


def run_sections(parts: Sequence[tuple[str, str, SectionFn]]) -> list[Section]:
    """Run each ``(key, title, fn)``; a raising section is reported, never propagated."""
    sections = []
    for key, title, build in parts:
        began = time.perf_counter()
        try:
            section = build()
        except Exception as error:
            logger.error("report section %s failed", key, exc_info=True, extra={"section": key})
            section = Section(
                key=key,
                title=title,
                status="error",
                summary="This part could not run.",
                error=_reason(error),
            )
        section.duration_ms = round((time.perf_counter() - began) * 1000, 1)
        sections.append(section)
    return sections


def _reason(error: BaseException) -> str:
    # Only the exception's own message, which our errors keep free of secrets, cut short.
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:300] if text else type(error).__name__


def overall(sections: Sequence[Section]) -> SectionStatus:
    worst: SectionStatus = "ok"
    for section in sections:
        if _RANK[section.status] > _RANK[worst]:
            worst = "fail" if section.status == "error" else section.status
    return worst


def store_report(settings: Settings, report: Report) -> None:
    """Write the report to ``fw_reports/<id>`` (the id is per kind and period: re-runs
    overwrite)."""
    data = report.model_dump(mode="json")
    for section in data["sections"]:
        # Firestore stores no array directly inside an array.
        section["rows"] = [{"cells": row} for row in section["rows"]]
    firestore_client(settings).collection(Collections.REPORTS).document(report.id).set(data)


def render_html(report: Report) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitoring.maintenance", "templates"), autoescape=True
    )
    env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC")
    return env.get_template("report.html.j2").render(report=report)


def render_text(report: Report) -> str:
    lines = [report.title, ""]
    for section in report.sections:
        lines.append(f"## {section.title} [{section.status}]")
        if section.summary:
            lines.append(section.summary)
        if section.error:
            lines.append(f"Error: {section.error}")
        for row in section.rows:
            lines.append("  " + " | ".join(row))
        lines.extend(f"  -> {item}" for item in section.recommendations)
        lines.append("")
    return "\n".join(lines)


def render_summary(report: Report) -> str:
    marks = {"ok": "OK", "skipped": "skipped", "warn": "WARN", "fail": "FAIL", "error": "ERROR"}
    parts = [f"{s.title}: {marks[s.status]}" for s in report.sections]
    return f"{report.title}: {marks[report.status]}. " + "; ".join(parts)


def send_report(settings: Settings, report: Report, now: datetime) -> list[str]:
    """Queue the HTML email to the report receivers and the short summary to the summary
    receivers; return the outbox ids. Keys are per report, so a re-run sends nothing new.

    A receiver list naming a receiver alerts.yaml lacks is skipped and the other one still
    sent; then ``ConfigError`` names the setting.
    """
    from monitoring.config import receiver_list_problem
    from monitoring.notifiers.model import Notification
    from monitoring.notifiers.outbox import enqueue, routing_for

    config = settings.maintenance
    severity = {"ok": "info", "skipped": "info", "warn": "warning"}.get(report.status, "critical")
    common = {
        "kind": "report",
        "status": "info",
        "severity": severity,
        "labels": {"report": report.kind},
        "fields": {s.title: s.status for s in report.sections},
        "starts_at": report.period_start,
        "ends_at": report.period_end,
        "created_at": now,
    }
    full = Notification(
        key=f"report:{report.id}",
        title=report.title,
        summary=render_summary(report),
        description=render_text(report),
        html=render_html(report),
        **common,
    )
    short = Notification(
        key=f"report:{report.id}:summary",
        title=report.title,
        summary=render_summary(report),
        **common,
    )

    known = routing_for(settings).receivers
    sent, problems = [], []
    for variable, receivers, notification in (
        ("FIREWATCH_MAINTENANCE__REPORT_RECEIVERS", config.report_receivers, full),
        ("FIREWATCH_MAINTENANCE__SUMMARY_RECEIVERS", config.summary_receivers, short),
    ):
        if receivers == []:
            continue  # an empty list sends nothing; None routes by alerts.yaml
        problem = receiver_list_problem(variable, receivers or [], known)
        if problem is not None:
            problems.append(problem)
            continue
        sent.append(enqueue(settings, notification, receivers, now=now))
    if problems:
        raise ConfigError(f"report {report.id}: {'; '.join(problems)}")
    return sent
