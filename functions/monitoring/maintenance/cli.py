"""`firewatch maintenance run daily|weekly|monthly`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from monitoring.cliutil import EXIT_BAD, EXIT_USAGE, cells, console, emit_json, fail

__all__ = ["register"]

maintenance_app = typer.Typer(
    name="maintenance",
    help="Maintenance reports: daily health/KPIs/cost/security/backups, weekly capacity, "
    "monthly restore drill.\n\nExample: firewatch maintenance run daily",
    no_args_is_help=True,
)


@maintenance_app.command()
def run(
    kind: Annotated[str, typer.Argument(help="daily, weekly or monthly.")],
    at: Annotated[
        str | None, typer.Option(help="Run as if at this UTC time (ISO 8601), e.g. 2026-03-02.")
    ] = None,
    send: Annotated[bool, typer.Option(help="Queue the report for its receivers.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Build (store, and send) one maintenance report now; exit 1 when a part failed.

    Example: firewatch maintenance run daily --no-send
    """
    from rich.table import Table
    from rich.text import Text

    from monitoring.config import load_settings
    from monitoring.maintenance import jobs

    if kind not in ("daily", "weekly", "monthly"):
        fail(f"unknown report {kind!r}; choose daily, weekly or monthly", EXIT_USAGE)
    try:
        now = datetime.fromisoformat(at).replace(tzinfo=UTC) if at else datetime.now(UTC)
    except ValueError:
        fail(f"--at {at!r} is not an ISO 8601 time, e.g. 2026-03-02T03:00", EXIT_USAGE)
    settings = load_settings()
    if kind == "daily":
        report = jobs.build_daily(settings, now, send=send)
    elif kind == "weekly":
        report = jobs.run_weekly(settings, now, send=send)
    else:
        report = jobs.run_monthly(settings, now, send=send)

    if as_json:
        emit_json(report.model_dump(mode="json"))
    else:
        table = Table("Part", "Status", "Summary", title=report.title)
        colours = {"ok": "green", "skipped": "dim", "warn": "yellow", "fail": "red", "error": "red"}
        for section in report.sections:
            table.add_row(
                *cells(
                    section.title,
                    Text(section.status, style=colours[section.status]),
                    section.error or section.summary,
                )
            )
        console.print(table)
        console.print(f"stored as fw_reports/{report.id}", highlight=False)
    if report.status == "fail":
        raise typer.Exit(EXIT_BAD)


def register(app: typer.Typer) -> None:
    """Add this subsystem's commands to the top-level firewatch app."""
    app.add_typer(maintenance_app)
