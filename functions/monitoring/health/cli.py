"""`firewatch health`: run the health checks here and show them as a table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from monitoring.cliutil import EXIT_BAD, EXIT_USAGE, cells, console, emit_json, fail

_STYLE = {"healthy": "green", "degraded": "yellow", "unhealthy": "bold red"}


def health(
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only this check (repeatable), e.g. --only firestore."),
    ] = None,
    record: bool = typer.Option(
        False, "--record", help="Also store the report and its KPIs, as the endpoint does."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Run every configured health check now and show each result.

    Exits 1 when the overall status is unhealthy, 0 when healthy or degraded.

    Example: firewatch health --only firestore --only functions
    """
    from rich.table import Table
    from rich.text import Text

    from monitoring.config import load_settings
    from monitoring.health.checks import run_checks
    from monitoring.health.probes import build_checks
    from monitoring.health.publish import publish

    settings = load_settings()
    now = datetime.now(UTC)
    checks = build_checks(settings, now)
    if only:
        unknown = sorted(set(only) - {check.name for check in checks})
        if unknown:
            names = ", ".join(check.name for check in checks)
            fail(f"no check named {', '.join(unknown)}; configured checks: {names}", EXIT_USAGE)
        checks = [check for check in checks if check.name in only]

    report = run_checks(settings, now, checks=checks)
    if record:
        publish(settings, report, now)

    if as_json:
        emit_json(report.detailed())
    else:
        table = Table(title=f"Health at {now:%Y-%m-%d %H:%M:%S} UTC")
        table.add_column("check")
        table.add_column("status")
        table.add_column("latency", justify="right")
        table.add_column("critical")
        table.add_column("reason", overflow="fold")
        for check in report.checks:
            style = _STYLE[check.status]
            table.add_row(
                *cells(
                    check.name,
                    Text(check.status, style=style),
                    f"{check.latency_ms:.0f} ms",
                    "yes" if check.critical else "no",
                    check.reason,
                )
            )
        console.print(table)
        style = _STYLE[report.status]
        console.print(f"overall: [{style}]{report.status}[/] in {report.duration_ms:.0f} ms")
    if report.status == "unhealthy":
        raise typer.Exit(EXIT_BAD)


def register(app: typer.Typer) -> None:
    """Add this subsystem's commands to the top-level firewatch app."""
    app.command("health")(health)
