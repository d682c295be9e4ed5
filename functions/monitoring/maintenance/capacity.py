"""Weekly capacity trends: daily series, a least-squares line, and where it leads."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitoring.maintenance.report import Section

if TYPE_CHECKING:
    from monitoring.config import Settings
    from monitoring.kpi.query import KpiQuery

__all__ = ["capacity_section", "fit_line"]

_DAY = timedelta(days=1)


def fit_line(values: list[float | None]) -> tuple[float, float] | None:
    """Return (slope per step, value at the last step) of the least-squares line through the
    known values, or None with fewer than two of them."""
    points = [(x, y) for x, y in enumerate(values) if y is not None]
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    last = mean_y + slope * (len(values) - 1 - mean_x)
    return slope, last


def _daily(
    query: KpiQuery, metric: str, agg: str, start: datetime, end: datetime
) -> list[float | None]:
    from monitoring.kpi.query import Window

    return [value for _, value in query.series(metric, agg, Window(start, end), _DAY)]


def _storage(query: KpiQuery, start: datetime, end: datetime) -> list[float | None]:
    from monitoring.kpi.query import Window

    # A gauge per bucket: the day's level is the sum of each bucket's last reading.
    buckets = query.aggregate_by("storage_used_bytes", "last", Window(start, end), "bucket")
    totals: list[float | None] = [None] * ((end - start) // _DAY)
    for bucket in buckets:
        for i, value in enumerate(
            _daily_labels(query, "storage_used_bytes", "last", start, end, {"bucket": bucket})
        ):
            if value is not None:
                totals[i] = (totals[i] or 0.0) + value
    return totals


def _daily_labels(
    query: KpiQuery, metric: str, agg: str, start: datetime, end: datetime, labels: dict[str, str]
) -> list[float | None]:
    from monitoring.kpi.query import Window

    return [v for _, v in query.series(metric, agg, Window(start, end), _DAY, labels=labels)]


def _human(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if unit == "bytes":
        for suffix in ("B", "KB", "MB", "GB", "TB"):
            if abs(value) < 1024 or suffix == "TB":
                return f"{value:,.1f} {suffix}"
            value /= 1024
    if unit == "$":
        return f"${value:,.2f}"
    return f"{value:,.0f}"


def _week(values: list[float | None], which: int) -> float | None:
    chunk = values[len(values) - 7 * (which + 1) : len(values) - 7 * which or None]
    known = [v for v in chunk if v is not None]
    return sum(known) / len(known) if known else None


def capacity_section(
    settings: Settings, start: datetime, end: datetime, query: KpiQuery | None = None
) -> Section:
    from monitoring.kpi.query import KpiQuery

    query = query or KpiQuery(settings)
    horizon = settings.maintenance.projection_days
    series = {
        "Storage used": (_storage(query, start, end), "bytes"),
        "Prompt executions per day": (_daily(query, "prompt_executions", "sum", start, end), ""),
        "Function invocations per day": (
            _daily(query, "function_invocations", "sum", start, end),
            "",
        ),
        "Cost per day": (_daily(query, "prompt_cost_usd", "sum", start, end), "$"),
    }
    rows, advice = [], []
    for label, (values, unit) in series.items():
        this_week, last_week = _week(values, 0), _week(values, 1)
        growth = (
            f"{(this_week - last_week) / last_week * 100:+.1f}%"
            if this_week is not None and last_week
            else "n/a"
        )
        line = fit_line(values)
        projected = None if line is None else max(0.0, line[1] + line[0] * horizon)
        rows.append(
            [
                label,
                _human(last_week, unit),
                _human(this_week, unit),
                growth,
                _human(projected, unit),
            ]
        )
        if (
            label == "Cost per day"
            and projected is not None
            and projected > settings.daily_budget_usd
        ):
            advice.append(
                f"At this growth daily cost reaches {_human(projected, '$')} in {horizon} days, "
                f"over the ${settings.daily_budget_usd:,.2f} budget: plan savings or raise it."
            )
    return Section(
        key="capacity",
        title="Capacity trends",
        status="warn" if advice else "ok",
        summary=f"Weekly averages and a linear projection {horizon} days ahead.",
        columns=["Resource", "Previous week", "This week", "Growth", f"In {horizon} days"],
        rows=rows,
        recommendations=advice,
    )
