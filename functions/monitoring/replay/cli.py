"""`firewatch replay FILE`: drive the whole pipeline from a request log; and
`firewatch replay-sample OUT`: write a demo log with an outage to try it on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from monitoring.cliutil import EXIT_BAD, EXIT_USAGE, cells, console, emit_json, err_console, fail

if TYPE_CHECKING:
    from monitoring.config import Settings
    from monitoring.notifiers.model import Notification
    from monitoring.replay.driver import ReplayOptions
    from monitoring.replay.summary import ReplaySummary

__all__ = ["register"]


def _settings() -> Settings:
    """Load settings; beside a running `firewatch dev`, replay into that local stack."""
    from monitoring.config import load_settings
    from monitoring.localstack.devhost import adopt_dev_environment

    adopt_dev_environment()
    return load_settings()


def replay(
    file: Annotated[Path, typer.Argument(help="Access log, plain or gzip.")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="nginx, apache, gcp, alb, haproxy or heroku (default: detected).",
        ),
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option("--tz", help="Zone of timestamps without one (HAProxy), e.g. Europe/Paris."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Evaluate alerts but only print notifications."),
    ] = False,
    horizon: Annotated[
        int,
        typer.Option(
            "--horizon", min=0, help="Minutes a line may arrive late and still be bucketed."
        ),
    ] = 5,
    all_rules: Annotated[
        bool,
        typer.Option(
            "--all-rules",
            help="Also evaluate rules that read more than requests (backups, cost, health).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Replay a request log through KPIs, alerts and notifications on the log's own clock.

    Prints lines read, parsed and rejected, traffic, latency and the alert timeline.

    Example: firewatch replay /var/log/nginx/access.log.1.gz --dry-run
    """
    from monitoring.errors import RuleError
    from monitoring.replay.driver import ReplayOptions
    from monitoring.replay.formats import FORMATS
    from monitoring.replay.model import ReplayInputError
    from monitoring.replay.timeparse import load_tz

    if fmt is not None and fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; choose one of {', '.join(sorted(FORMATS))}", EXIT_USAGE)
    try:
        load_tz(tz)
    except ReplayInputError as error:
        fail(str(error), EXIT_USAGE)
    if file.is_dir():
        fail(f"{file} is a directory; give one log file", EXIT_USAGE)
    if not file.is_file():
        fail(f"no such file: {file}", EXIT_USAGE)

    settings = _settings()
    options = ReplayOptions(
        format=fmt, tz=tz, dry_run=dry_run, horizon_minutes=horizon, all_rules=all_rules
    )
    printed: list[Notification] = []
    try:
        summary = _run(settings, file, options, printed, quiet=as_json)
    except (ReplayInputError, RuleError) as error:
        fail(str(error))

    if as_json:
        emit_json(summary.model_dump(mode="json"))
    else:
        _print_summary(summary)
    if summary.lines_parsed == 0:
        raise typer.Exit(EXIT_BAD)


def _run(
    settings: Settings,
    file: Path,
    options: ReplayOptions,
    printed: list[Notification],
    *,
    quiet: bool,
) -> ReplaySummary:
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from monitoring.replay.driver import replay_file

    if quiet:
        return replay_file(settings, file, options, on_notification=printed.append)

    def show(notification: Notification) -> None:
        verb = "would send" if options.dry_run else "sent"
        err_console.print(
            f"  {verb} [bold]{notification.status}[/] {notification.severity}: "
            f"{notification.title}",
            highlight=False,
        )

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"replaying {file.name}", total=file.stat().st_size)
        return replay_file(
            settings,
            file,
            options,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            on_notification=show,
        )


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M}Z"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def _print_summary(summary: ReplaySummary) -> None:
    lines = Table(title=f"{summary.path} ({summary.format})", show_header=False)
    lines.add_row("lines read", f"{summary.lines_read:,}")
    lines.add_row("parsed", f"{summary.lines_parsed:,}")
    lines.add_row("rejected (malformed)", f"{summary.lines_rejected:,}")
    lines.add_row("skipped (blank, not a request)", f"{summary.lines_skipped:,}")
    lines.add_row(
        f"late (> {summary.horizon_minutes} min, not bucketed)", f"{summary.lines_late:,}"
    )
    console.print(lines)
    if summary.rejected_lines:
        shown = ", ".join(str(n) for n, _ in summary.rejected_lines)
        first = summary.rejected_lines[0]
        more = summary.lines_rejected - len(summary.rejected_lines)
        console.print(
            f"rejected lines: {shown}{f' and {more:,} more' if more > 0 else ''} "
            f"(line {first[0]}: {first[1]})",
            highlight=False,
        )
    if summary.late_lines:
        console.print(f"late lines: {', '.join(map(str, summary.late_lines))}", highlight=False)

    traffic = Table(title="Traffic", show_header=False)
    traffic.add_row("period", f"{_when(summary.first_minute)} .. {_when(summary.last_minute)}")
    traffic.add_row("requests", f"{summary.requests:,}")
    traffic.add_row("peak per minute", f"{summary.peak_rpm:,} at {_when(summary.peak_minute)}")
    traffic.add_row("median per minute", f"{summary.median_rpm:,.1f}")
    ratio = summary.error_ratio
    traffic.add_row("error ratio (5xx)", "-" if ratio is None else f"{ratio:.2%}")
    accuracy = f" (within {summary.latency_relative_accuracy:.0%})"
    traffic.add_row("P50 latency", _ms(summary.p50_ms) + accuracy)
    traffic.add_row("P95 latency", _ms(summary.p95_ms) + accuracy)
    traffic.add_row("P99 latency", _ms(summary.p99_ms) + accuracy)
    console.print(traffic)

    alerts = Table(title=f"Alert timeline ({summary.evaluations:,} evaluations)")
    for column in ("rule", "labels", "severity", "fired at", "resolved at", "peak value"):
        alerts.add_column(column)
    for episode in summary.alerts:
        labels = ", ".join(
            f"{k}={v}" for k, v in episode.labels.items() if k not in ("alertname", "severity")
        )
        peak = episode.peak_value
        alerts.add_row(
            *cells(
                episode.rule,
                labels,
                episode.severity,
                _when(episode.fired_at),
                _when(episode.resolved_at) if episode.resolved_at else "still firing",
                "-" if peak is None else f"{peak:.4g}",
            )
        )
    console.print(alerts if summary.alerts else "[green]no alert fired[/]")
    verb = "would have been sent (dry run)" if summary.dry_run else "sent"
    console.print(f"{len(summary.notifications)} notifications {verb}")
    for warning in summary.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    for problem in summary.evaluation_errors[:5]:
        console.print(f"[yellow]evaluation error:[/] {problem}", highlight=False)
    if summary.refused_events:
        console.print(f"[yellow]{summary.refused_events:,} events refused by the KPI recorder[/]")


def replay_sample(
    out: Annotated[Path, typer.Argument(help="File to write (.gz is compressed).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="Log format to write.")] = "nginx",
    minutes: Annotated[int, typer.Option(min=1, help="Minutes of traffic.")] = 30,
    per_minute: Annotated[int, typer.Option(min=1, help="Requests per minute.")] = 200,
    outage_at: Annotated[
        int, typer.Option(min=0, help="Minute the outage starts (60% of requests fail).")
    ] = 10,
    outage_minutes: Annotated[int, typer.Option(min=0, help="Length of the outage.")] = 10,
    hours_ago: Annotated[
        float, typer.Option(min=0, help="How long before now the log starts.")
    ] = 1.0,
) -> None:
    """Write a demo access log with an outage, to try `firewatch replay` on.

    Example: firewatch replay-sample demo.log --minutes 30 --outage-at 10
    """
    import gzip

    from monitoring.replay.formats import FORMATS
    from monitoring.replay.synthetic import demo_requests, write_log

    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; choose one of {', '.join(sorted(FORMATS))}", EXIT_USAGE)
    start = datetime.now(UTC) - timedelta(hours=hours_ago)
    requests = demo_requests(
        start,
        minutes,
        per_minute,
        outage_start=outage_at if outage_minutes else None,
        outage_minutes=outage_minutes,
    )
    opener = gzip.open if out.suffix == ".gz" else open
    with opener(out, "wt", encoding="utf-8") as handle:
        count = write_log(handle, fmt, requests)
    console.print(f"wrote {count:,} {fmt} lines to {out}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this subsystem's commands to the top-level firewatch app."""
    app.command("replay")(replay)
    app.command("replay-sample")(replay_sample)
