"""`firewatch kpis ...`: read KPIs from the terminal (table, sparkline, or JSON)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitoring.cliutil import EXIT_USAGE, console, emit_json, fail

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["register", "sparkline"]

kpis_app = typer.Typer(
    name="kpis",
    help="KPIs: list the catalogue, show a metric over a window.\n\n"
    "Example: firewatch kpis show api_response_time_ms --window 1h",
    no_args_is_help=True,
)

_BARS = "▁▂▃▄▅▆▇█"
_DURATION = re.compile(r"^(\d+)([mhd])$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_DEFAULT_AGG = {
    "counter": "sum",
    "distribution": "quantile",
    "gauge": "last",
    "distinct": "distinct",
}


def register(app: typer.Typer) -> None:
    """Add this subsystem's commands to the top-level firewatch app."""
    app.add_typer(kpis_app)


def sparkline(values: list[float | None]) -> str:
    """Return one bar per value, scaled between the smallest and largest; gaps for no data."""
    present = [v for v in values if v is not None]
    if not present:
        return " " * len(values)
    low, high = min(present), max(present)
    span = high - low
    bars = []
    for value in values:
        if value is None:
            bars.append(" ")
        else:
            level = 0 if span == 0 else round((value - low) / span * (len(_BARS) - 1))
            bars.append(_BARS[level])
    return "".join(bars)


_LONGEST = timedelta(days=36500)


def _duration(text: str, option: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match:
        fail(f"{option} {text!r} is not a duration like 15m, 1h or 7d", EXIT_USAGE)
    try:
        duration = int(match.group(1)) * _UNITS[match.group(2)]
    except OverflowError:
        duration = timedelta.max
    if duration > _LONGEST:  # windows reach back from now; past year 1 they cannot
        fail(f"{option} {text!r} is longer than {_LONGEST.days} days", EXIT_USAGE)
    if duration < timedelta(minutes=1):  # rollups are per minute: less is always empty
        fail(f"{option} {text!r} is shorter than one minute", EXIT_USAGE)
    return duration


def _labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            fail(f"--label {pair!r} must look like name=value", EXIT_USAGE)
        labels[name] = value
    return labels


def _settings() -> Settings:
    from monitoring.config import load_settings

    return load_settings()


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.4g}"
    return text if unit == "1" else f"{text} {unit}"


@kpis_app.command("list")
def list_metrics(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every metric with its kind, unit and labels.

    Example: firewatch kpis list --json
    """
    from rich.table import Table

    from monitoring.kpi.metrics import METRICS

    if as_json:
        emit_json(
            [
                {
                    "name": m.name,
                    "kind": m.kind,
                    "unit": m.unit,
                    "labels": list(m.labels),
                    "help": m.help,
                }
                for m in METRICS.values()
            ]
        )
        return
    table = Table("metric", "kind", "unit", "labels", "help")
    for m in METRICS.values():
        table.add_row(m.name, m.kind, m.unit, ", ".join(m.labels), m.help)
    console.print(table)


@kpis_app.command()
def show(
    metric: Annotated[str, typer.Argument(help="Metric name, e.g. api_response_time_ms.")],
    window: Annotated[str, typer.Option(help="How far back: 15m, 1h, 24h, 7d.")] = "1h",
    agg: Annotated[
        str | None,
        typer.Option(help="count, sum, avg, min, max, rate, quantile, distinct or last."),
    ] = None,
    q: Annotated[float, typer.Option(help="Quantile for --agg quantile (0..1).")] = 0.95,
    step: Annotated[
        str | None, typer.Option(help="Bucket size (default: about 12 buckets).")
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", "-l", help="Filter, name=value (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show a metric over a window: one row per bucket, the total and a sparkline.

    Example: firewatch kpis show api_response_time_ms --window 1h --agg quantile --q 0.99
    """
    from rich.table import Table

    from monitoring.kpi.metrics import METRICS
    from monitoring.kpi.query import KpiQuery, Window

    definition = METRICS.get(metric)
    if definition is None:
        fail(f"unknown metric {metric!r}; `firewatch kpis list` shows them", EXIT_USAGE)
    span = _duration(window, "--window")
    chosen = agg or _DEFAULT_AGG[definition.kind]
    if step is not None:
        bucket = _duration(step, "--step")
    else:
        bucket = max(timedelta(minutes=1), timedelta(minutes=int(span.total_seconds() // 720)))
    filters = _labels(label or [])
    quantile = q if chosen == "quantile" else None

    whole = Window.last(datetime.now(UTC), span)
    query = KpiQuery(_settings())
    try:
        total = query.aggregate(metric, chosen, whole, filters, quantile)
        series = query.series(metric, chosen, whole, bucket, filters, quantile)
    except ValueError as error:
        fail(str(error), EXIT_USAGE)

    values = [value for _, value in series]
    if as_json:
        result: dict[str, Any] = {
            "metric": metric,
            "agg": chosen,
            "q": quantile,
            "labels": filters,
            "window": {"start": whole.start.isoformat(), "end": whole.end.isoformat()},
            "value": total,
            "series": [{"start": start.isoformat(), "value": value} for start, value in series],
        }
        emit_json(result)
        return
    name = f"{chosen}(q={q})" if chosen == "quantile" else chosen
    table = Table("from (UTC)", name, title=f"{metric} over the last {window}")
    for start, value in series:
        table.add_row(f"{start:%Y-%m-%d %H:%M}", _format(value, definition.unit))
    table.add_row("[bold]whole window[/]", f"[bold]{_format(total, definition.unit)}[/]")
    console.print(table)
    console.print(f"  {sparkline(values)}  ({len(values)} × {step or _short(bucket)})")


def _short(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"
