"""What the dashboard shows, gathered from the KPI rollups and Firewatch's own records.

Each part is gathered on its own: a part that fails (a collection not there yet, a query
error) is shown as unavailable with its reason, and the rest of the page still renders.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from monitoring.clock import floor_minute

if TYPE_CHECKING:
    from monitoring.config import Settings
    from monitoring.kpi.query import KpiQuery, Window

__all__ = ["RANGES", "Chart", "DashboardData", "gather"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# range name -> (span, bucket step)
RANGES: dict[str, tuple[timedelta, timedelta]] = {
    "1h": (timedelta(hours=1), timedelta(minutes=1)),
    "24h": (timedelta(hours=24), timedelta(minutes=15)),
    "7d": (timedelta(days=7), timedelta(hours=2)),
    "30d": (timedelta(days=30), timedelta(days=1)),
}

Series = list[tuple[datetime, float | None]]


@dataclass
class Chart:
    key: str
    title: str
    unit: str
    points: Series
    current: float | None
    threshold: float | None = None


@dataclass
class DashboardData:
    range_name: str
    generated_at: datetime
    charts: list[Chart] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    silences: list[dict[str, Any]] = field(default_factory=list)
    backups: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)


def _divide(top: Series, bottom: Series, scale: float = 1.0) -> Series:
    out: Series = []
    for (when, a), (_, b) in zip(top, bottom, strict=True):
        out.append((when, None if not b else (a or 0.0) / b * scale))
    return out


def _total(points: Series) -> float | None:
    known = [v for _, v in points if v is not None]
    return sum(known) if known else None


def _charts(settings: Settings, query: KpiQuery, window: Window, step: timedelta) -> list[Chart]:
    per_minute = step.total_seconds() / 60
    requests = query.series("api_requests", "sum", window, step)
    errors = query.series("api_errors", "sum", window, step)
    executions = query.series("prompt_executions", "sum", window, step)
    cost = query.series("prompt_cost_usd", "sum", window, step)
    hits = query.series("cache_hits", "sum", window, step)
    misses = query.series("cache_misses", "sum", window, step)
    lookups = [
        (w, (h or 0) + (m or 0) if h is not None or m is not None else None)
        for (w, h), (_, m) in zip(hits, misses, strict=True)
    ]

    from monitoring.kpi.query import Window as QueryWindow

    # "Today" is the day of the last completed minute: at 00:00 that is still yesterday.
    today = QueryWindow.utc_day(window.end - timedelta(minutes=1))
    days = QueryWindow(today.start - timedelta(days=13), today.end)
    daily_cost = query.series("prompt_cost_usd", "sum", days, timedelta(days=1))

    total_requests, total_errors = _total(requests), _total(errors)
    total_exec, total_cost = _total(executions), _total(cost)
    total_hits, total_lookups = _total(hits), _total(lookups)
    return [
        Chart(
            "request_rate",
            "Requests per minute",
            "per_min",
            [(w, None if v is None else v / per_minute) for w, v in requests],
            None if total_requests is None else total_requests / (window.seconds / 60),
        ),
        Chart(
            "error_rate",
            "Error rate (5xx)",
            "ratio",
            _divide(errors, requests),
            None if not total_requests else (total_errors or 0) / total_requests,
        ),
        Chart(
            "p95_response_time",
            "P95 response time",
            "ms",
            query.series("api_response_time_ms", "quantile", window, step, q=0.95),
            query.aggregate("api_response_time_ms", "quantile", window, q=0.95),
        ),
        Chart(
            "page_load_p95",
            "Page load P95",
            "ms",
            query.series("page_load_ms", "quantile", window, step, q=0.95),
            query.aggregate("page_load_ms", "quantile", window, q=0.95),
        ),
        Chart("prompt_executions", "Prompt executions", "count", executions, total_exec),
        Chart(
            "cost_per_execution",
            "Cost per execution",
            "usd",
            _divide(cost, executions),
            None if not total_exec else (total_cost or 0) / total_exec,
        ),
        Chart(
            "daily_cost",
            "Daily cost vs budget",
            "usd",
            daily_cost,
            daily_cost[-1][1] if daily_cost else None,
            threshold=settings.daily_budget_usd,
        ),
        Chart(
            "cold_starts",
            "Cold starts",
            "count",
            query.series("cold_starts", "sum", window, step),
            query.aggregate("cold_starts", "sum", window),
        ),
        Chart(
            "cache_hit_rate",
            "Cache hit rate",
            "ratio",
            _divide(hits, lookups),
            None if not total_lookups else (total_hits or 0) / total_lookups,
        ),
    ]


def _alerts(settings: Settings) -> list[dict[str, Any]]:
    from monitoring.alerts.state import FirestoreStateStore

    states = FirestoreStateStore(settings).load_all().values()
    shown = [s for s in states if s.state in ("pending", "firing")]
    order = {"firing": 0, "pending": 1}
    shown.sort(key=lambda s: (order[s.state], s.severity != "critical", s.rule))
    return [
        {
            "rule": s.rule,
            "state": s.state,
            "severity": s.severity,
            "labels": s.labels,
            "value": s.value,
            "since": s.fired_at if s.state == "firing" else s.active_since,
        }
        for s in shown
    ]


def _silences(settings: Settings, now: datetime) -> list[dict[str, Any]]:
    from monitoring.alerts.silences import active_silences

    return [
        {
            "matchers": ", ".join(str(m) for m in s.matchers),
            "ends_at": s.ends_at,
            "author": s.author,
            "comment": s.comment,
        }
        for s in active_silences(settings, now)
    ]


def _backups(settings: Settings) -> list[dict[str, Any]]:
    from monitoring.backups.catalog import list_backups

    rows = []
    for record in list_backups(settings)[:5]:
        data = record.model_dump() if hasattr(record, "model_dump") else dict(vars(record))
        rows.append(
            {
                "id": data.get("id") or data.get("backup_id"),
                "kind": data.get("kind"),
                "tags": ", ".join(data.get("tags") or []),
                "state": data.get("state"),
                "started_at": data.get("started_at") or data.get("start"),
            }
        )
    return rows


def _incidents(settings: Settings) -> list[dict[str, Any]]:
    from monitoring.incidents.service import list_incidents

    return [
        {
            "id": i.id,
            "title": i.title,
            "priority": i.priority,
            "status": i.status,
            "service": i.service,
            "opened_at": i.opened_at,
        }
        for i in list_incidents(settings, open_only=True)
    ]


def gather(settings: Settings, now: datetime, range_name: str) -> DashboardData:
    """Return everything the dashboard shows for ``range_name`` ending at ``now``."""
    from monitoring.kpi.query import KpiQuery, Window

    span, step = RANGES[range_name]
    end = floor_minute(now)
    window = Window(end - span, end)
    data = DashboardData(range_name=range_name, generated_at=now)
    query = KpiQuery(settings)

    def part(name: str, build: Callable[[], T], default: T) -> T:
        try:
            return build()
        except Exception as error:  # one broken part must not blank the whole page
            logger.warning("dashboard part %s unavailable: %s", name, error, exc_info=True)
            data.unavailable[name] = f"{type(error).__name__}: {error}"[:200]
            return default

    data.charts = part("charts", lambda: _charts(settings, query, window, step), [])
    data.alerts = part("alerts", lambda: _alerts(settings), [])
    data.silences = part("silences", lambda: _silences(settings, now), [])
    data.backups = part("backups", lambda: _backups(settings), [])
    data.incidents = part("incidents", lambda: _incidents(settings), [])
    return data
