"""`firewatch deploy check`: is the deployment worse than the hour before it?"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import typer

from monitoring.cliutil import EXIT_BAD, EXIT_USAGE, console, emit_json, fail

if TYPE_CHECKING:
    from monitoring.config import Settings

deploy_app = typer.Typer(help="Checks around a deployment.", no_args_is_help=True)


def compare_deployment(
    settings: Settings, since: datetime, now: datetime, margin: float
) -> dict[str, object]:
    """Return error rate and P95 since ``since`` against the hour before, and whether
    either got worse by more than ``margin`` (a fraction: 0.2 = 20 %)."""
    from monitoring.clock import floor_minute
    from monitoring.kpi.query import KpiQuery, Window

    start = floor_minute(since)
    after = Window(start, max(start, floor_minute(now)))
    before = Window(start - timedelta(hours=1), start)
    query = KpiQuery(settings)

    def error_rate(window: Window) -> float | None:
        return query.ratio("api_errors", "api_requests", window)

    def p95(window: Window) -> float | None:
        return query.aggregate("api_response_time_ms", "quantile", window, q=0.95)

    figures: dict[str, dict[str, float | bool | None]] = {}
    worse = False
    for name, read in (("error_rate", error_rate), ("p95_response_time_ms", p95)):
        then, now_value = read(before), read(after)
        # With no baseline or no traffic yet there is nothing to compare: not a regression.
        regressed = then is not None and now_value is not None and now_value > then * (1 + margin)
        if name == "error_rate" and then == 0 and now_value:
            regressed = now_value > margin / 100  # from zero errors, allow a small floor
        figures[name] = {"before": then, "after": now_value, "worse": regressed}
        worse = worse or regressed
    return {"since": start, "margin": margin, "worse": worse, **figures}


@deploy_app.command("check")
def check(
    since: datetime = typer.Option(..., help="When the deployment finished (ISO time, UTC)."),
    margin: float = typer.Option(0.2, min=0, help="Allowed relative worsening (0.2 = 20%)."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Compare error rate and P95 since SINCE with the hour before; exit 1 when worse.

    Example: firewatch deploy check --since 2026-12-03T10:00:00Z --margin 0.2
    """
    from monitoring.clock import SystemClock, as_utc
    from monitoring.config import load_settings

    now = SystemClock().now()
    if as_utc(since) > now:
        fail("--since is in the future", EXIT_USAGE)
    result = compare_deployment(load_settings(), as_utc(since), now, margin)
    if as_json:
        emit_json(result)
    else:
        for name in ("error_rate", "p95_response_time_ms"):
            row = result[name]
            assert isinstance(row, dict)
            flag = "[red]worse[/]" if row["worse"] else "[green]ok[/]"
            console.print(f"{name}: before {row['before']} after {row['after']} {flag}")
    if result["worse"]:
        raise typer.Exit(EXIT_BAD)


def register(app: typer.Typer) -> None:
    """Add ``firewatch deploy`` to the top-level app."""
    app.add_typer(deploy_app, name="deploy")
