"""`firewatch alerts ...`: validate, test, status, backtest, history and silences."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitoring.cliutil import EXIT_BAD, EXIT_USAGE, cells, console, document_id, emit_json, fail

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["register"]

alerts_app = typer.Typer(
    name="alerts",
    help="Alert rules: check, test, backtest, see what fires, silence.\n\n"
    "Example: firewatch alerts validate alerts.yaml",
    no_args_is_help=True,
)
silence_app = typer.Typer(
    name="silence",
    help="Silences and maintenance windows.\n\n"
    "Example: firewatch alerts silence add -m alertname=high_p95 --for 2h "
    "--author ana --comment 'load test'",
    no_args_is_help=True,
)
alerts_app.add_typer(silence_app)

_JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _settings() -> Settings:
    from monitoring.config import load_settings

    return load_settings()


def _now() -> datetime:
    return datetime.now(UTC)


def _duration(text: str) -> timedelta:
    from monitoring.alerts.condition import parse_duration

    try:
        duration = parse_duration(text)
    except ValueError as error:
        fail(str(error), EXIT_USAGE)
    if duration > timedelta(days=36500):  # reaching back past year 1 overflows a datetime
        fail(f"duration {text!r} is longer than 36500 days", EXIT_USAGE)
    return duration


@alerts_app.command()
def validate(
    file: Annotated[
        Path | None, typer.Argument(help="Rules file (default: the configured one).")
    ] = None,
    as_json: bool = _JSON,
) -> None:
    """Check a rules file; print every problem as file:line:column: message.

    Example: firewatch alerts validate alerts.yaml
    """
    from monitoring.alerts.rules import check_rules
    from monitoring.config import check_receivers

    settings = _settings()
    path = file or settings.alerts_file
    ruleset, problems = check_rules(path, settings)
    if ruleset is not None and (problems := check_receivers(settings, path)):
        ruleset = None  # the rules load, but a setting names a receiver the file lacks
    if as_json:
        emit_json(
            {
                "file": str(path),
                "ok": ruleset is not None,
                "rules": [r.name for r in ruleset.rules] if ruleset else [],
                "problems": [asdict(p) for p in problems],
            }
        )
    elif ruleset is not None:
        console.print(f"[green]ok[/] {path}: {len(ruleset.rules)} rules", highlight=False)
    else:
        for problem in problems:
            console.print(str(problem), highlight=False, markup=False)
    if ruleset is None:
        raise typer.Exit(EXIT_BAD)


@alerts_app.command("test")
def test_rules(
    file: Annotated[Path, typer.Argument(help="A rule test file (see alerts/testing.py).")],
    as_json: bool = _JSON,
) -> None:
    """Run rule unit tests: input series per minute, expected alerts at given times.

    Example: firewatch alerts test tests/alerts/rules_test.yaml
    """
    from monitoring.alerts.testing import run_rule_tests

    outcomes = run_rule_tests(file, _settings())
    if as_json:
        emit_json([{"name": o.name, "passed": o.passed, "failures": o.failures} for o in outcomes])
    else:
        for outcome in outcomes:
            mark = "[green]PASS[/]" if outcome.passed else "[red]FAIL[/]"
            console.print(f"{mark} {outcome.name}", highlight=False)
            for failure in outcome.failures:
                console.print(f"    {failure}", highlight=False, markup=False)
    if not all(o.passed for o in outcomes):
        raise typer.Exit(EXIT_BAD)


@alerts_app.command()
def status(as_json: bool = _JSON) -> None:
    """Show what is pending, firing and silenced now.

    Example: firewatch alerts status --json
    """
    from rich.table import Table

    from monitoring.alerts.evaluator import format_value
    from monitoring.alerts.silences import active_silences
    from monitoring.alerts.state import FirestoreStateStore

    settings, now = _settings(), _now()
    states = [
        s
        for s in FirestoreStateStore(settings).load_all().values()
        if s.state in ("pending", "firing")
    ]
    silences = active_silences(settings, now)
    rows: list[dict[str, Any]] = []
    for state in sorted(states, key=lambda s: (s.state != "firing", s.rule)):
        silenced_by = next((x.id for x in silences if x.matches(state.labels)), None)
        rows.append(
            {
                "rule": state.rule,
                "state": state.state,
                "severity": state.severity,
                "labels": state.labels,
                "value": state.value,
                "since": state.fired_at if state.state == "firing" else state.active_since,
                "silenced_by": silenced_by,
            }
        )
    if as_json:
        emit_json({"alerts": rows, "silences": [s.model_dump(mode="json") for s in silences]})
        return
    table = Table(title=f"Alerts at {now:%Y-%m-%d %H:%M} UTC")
    for column in ("rule", "state", "severity", "labels", "value", "since", "silenced"):
        table.add_column(column)
    for row in rows:
        extra = {k: v for k, v in row["labels"].items() if k not in ("alertname", "severity")}
        table.add_row(
            *cells(
                row["rule"],
                row["state"],
                row["severity"],
                ", ".join(f"{k}={v}" for k, v in extra.items()),
                format_value(row["value"]),
                f"{row['since']:%H:%M}" if row["since"] else "",
                row["silenced_by"] or "",
            )
        )
    console.print(table if rows else "[green]nothing pending or firing[/]")
    if silences:
        console.print(f"{len(silences)} silence(s) in force; see `firewatch alerts silence list`")


@alerts_app.command()
def backtest(
    file: Annotated[Path, typer.Argument(help="Rules file to try.")],
    days: int = typer.Option(30, "--days", min=1, max=400, help="How far back to run."),
    step: str = typer.Option("5m", "--step", help="Evaluate every STEP (1m is exact, slower)."),
    as_json: bool = _JSON,
) -> None:
    """Run rules over stored KPI history: how often each would fire, how many messages.

    Example: firewatch alerts backtest alerts.yaml --days 30 --step 5m
    """
    from rich.table import Table

    from monitoring.alerts.backtest import backtest as run_backtest
    from monitoring.alerts.rules import load_rules
    from monitoring.alerts.source import KpiSource

    every = _duration(step)
    if every < timedelta(minutes=1):
        fail(f"--step {step} is shorter than the evaluator's minute: give 1m or more", EXIT_USAGE)
    if every > timedelta(days=days):
        fail(f"--step {step} is longer than --days {days}: nothing would be evaluated", EXIT_USAGE)
    settings = _settings()
    ruleset = load_rules(file, settings)
    end = _now().replace(second=0, microsecond=0)
    rows = run_backtest(
        ruleset,
        KpiSource(settings),
        end - timedelta(days=days),
        end,
        step=every,
        repeat_interval=timedelta(minutes=settings.alerts.repeat_interval_minutes),
    )
    if as_json:
        emit_json([asdict(row) for row in rows])
        return
    table = Table(title=f"Backtest of {file} over {days} days (step {step})")
    for column in ("rule", "severity", "fired", "messages", "minutes firing", "no data"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            *cells(
                row.rule,
                row.severity,
                str(row.episodes),
                str(row.messages),
                f"{row.minutes_firing:,.0f}",
                str(row.no_data_evaluations),
            )
        )
    console.print(table)


@alerts_app.command()
def history(
    since: str = typer.Option("24h", "--since", help="How far back, e.g. 24h, 7d."),
    rule: str | None = typer.Option(None, "--rule", help="Only this rule."),
    as_json: bool = _JSON,
) -> None:
    """List alert transitions with time, value and rule version.

    Example: firewatch alerts history --since 7d --rule high_error_rate
    """
    from rich.table import Table

    from monitoring.alerts.evaluator import format_value
    from monitoring.alerts.history import query_history

    entries = query_history(_settings(), since=_now() - _duration(since), rule=rule)
    if as_json:
        emit_json([e.model_dump(mode="json") for e in entries])
        return
    table = Table(title=f"Alert transitions, last {since}")
    for column in ("at", "rule", "from", "to", "value", "version", "suppressed"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            *cells(
                f"{e.at:%Y-%m-%d %H:%M}",
                e.rule,
                e.from_state,
                e.to_state,
                format_value(e.value),
                e.rule_version,
                e.suppressed_by or "",
            )
        )
    console.print(table)


@silence_app.command("add")
def silence_add(
    matcher: Annotated[
        list[str],
        typer.Option("--matcher", "-m", help="label=value (or !=, =~, !~); repeat for more."),
    ],
    author: str = typer.Option(..., "--author", help="Who silences."),
    comment: str = typer.Option(..., "--comment", help="Why."),
    for_: str | None = typer.Option(None, "--for", help="Length from now (or from --start)."),
    start: Annotated[
        datetime | None, typer.Option("--start", help="Start, UTC (default now).")
    ] = None,
    end: Annotated[datetime | None, typer.Option("--end", help="End, UTC.")] = None,
    maintenance: bool = typer.Option(False, "--maintenance", help="Mark as maintenance."),
    as_json: bool = _JSON,
) -> None:
    """Silence matching alerts (state and history go on; messages stop).

    Example: firewatch alerts silence add -m alertname=high_p95 --for 2h --author ana
    --comment "load test"
    """
    from pydantic import ValidationError

    from monitoring.alerts.silences import Silence, add_silence, parse_matcher
    from monitoring.clock import as_utc

    now = _now()
    begin = as_utc(start) if start else now
    if end is None and for_ is None:
        fail("give --for or --end", EXIT_USAGE)
    finish = as_utc(end) if end else begin + _duration(for_ or "0m")
    if finish <= begin:
        fail("the silence must end after it starts", EXIT_USAGE)
    try:
        silence = Silence(
            kind="maintenance" if maintenance else "silence",
            matchers=[parse_matcher(m) for m in matcher],
            starts_at=begin,
            ends_at=finish,
            author=author,
            comment=comment,
        )
    except ValidationError as error:
        reason = error.errors()[0]["msg"].removeprefix("Value error, ")
        fail(f"invalid silence: {reason}", EXIT_USAGE)
    stored = add_silence(_settings(), silence, now=now)
    if as_json:
        emit_json(stored.model_dump(mode="json"))
    else:
        console.print(
            f"silence [bold]{stored.id}[/] until {stored.ends_at:%Y-%m-%d %H:%M} UTC",
            highlight=False,
        )


@silence_app.command("list")
def silence_list(
    include_expired: bool = typer.Option(False, "--all", help="Include expired silences."),
    as_json: bool = _JSON,
) -> None:
    """List active and scheduled silences.

    Example: firewatch alerts silence list --all
    """
    from rich.table import Table

    from monitoring.alerts.silences import list_silences

    silences = list_silences(_settings(), _now(), include_expired=include_expired)
    if as_json:
        emit_json([s.model_dump(mode="json") for s in silences])
        return
    table = Table(title="Silences")
    for column in ("id", "kind", "matchers", "starts", "ends", "author", "comment"):
        table.add_column(column)
    for s in silences:
        table.add_row(
            *cells(
                s.id,
                s.kind,
                ", ".join(map(str, s.matchers)),
                f"{s.starts_at:%Y-%m-%d %H:%M}",
                f"{s.ends_at:%Y-%m-%d %H:%M}",
                s.author,
                s.comment,
            )
        )
    console.print(table)


@silence_app.command("expire")
def silence_expire(
    silence_id: str = typer.Argument(..., help="The silence id from `silence list`."),
    as_json: bool = _JSON,
) -> None:
    """End a silence now.

    Example: firewatch alerts silence expire 3f9a1c2b7d10
    """
    from monitoring.alerts.silences import expire_silence

    silence = expire_silence(_settings(), document_id(silence_id, "a silence id"), now=_now())
    payload: dict[str, Any] = silence.model_dump(mode="json")
    if as_json:
        emit_json(payload)
    else:
        console.print(f"silence {silence.id} expired", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this subsystem's commands to the top-level firewatch app."""
    app.add_typer(alerts_app)
