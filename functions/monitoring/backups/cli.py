"""`firewatch backup ...` and `firewatch restore ...`: backups, pruning and recovery by hand."""

from __future__ import annotations

import getpass
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitoring.cliutil import (
    EXIT_BAD,
    EXIT_USAGE,
    cells,
    console,
    document_id,
    document_path,
    emit_json,
    err_console,
    fail,
)

if TYPE_CHECKING:
    from monitoring.backups.restore import Mode
    from monitoring.config import Settings

backup_app = typer.Typer(help="Make, list, verify and prune backups.", no_args_is_help=True)
restore_app = typer.Typer(help="Restore a user's data, undo a restore.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ActorOpt = Annotated[
    str | None, typer.Option("--actor", help="Who is acting, for the audit log (default: $USER).")
]

_RELATIVE = re.compile(r"^-?(\d+)([smhd])$")


def parse_time(text: str, now: datetime) -> datetime:
    """Return an aware UTC time from ISO 8601 (naive = UTC) or "90m"/"2h"/"3d" ago."""
    match = _RELATIVE.match(text.strip())
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]
        try:
            return now - timedelta(**{unit: int(match[1])})
        except OverflowError:  # before year 1: no backup can be that old
            fail(f"--at {text!r} is further back than any backup", EXIT_USAGE)
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"--at {text!r} is neither ISO 8601 nor a relative time like 2h", EXIT_USAGE)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _settings() -> Settings:
    from monitoring.config import load_settings

    return load_settings()


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Callable[[int], None]]:
    """Yield a callback advancing a rich progress bar on stderr (hidden with --json)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} documents"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=quiet,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.advance(task, n)


def _guard(action: Callable[[], Any]) -> Any:
    from monitoring.errors import ConfigError, FirewatchError, InputError

    try:
        return action()
    except FirewatchError as error:
        usage = isinstance(error, ConfigError | InputError)  # as the top-level handler does
        fail(str(error), EXIT_USAGE if usage else EXIT_BAD)


@backup_app.command("now")
def backup_now(as_json: JsonOpt = False) -> None:
    """Make a manual backup now (kind from FIREWATCH_BACKUP__KIND), verify it, prune.

    Example: firewatch backup now --json
    """
    from monitoring.backups.jobs import backup_id_for, run_backup
    from monitoring.backups.logical import export_logical

    settings = _settings()
    now = datetime.now(UTC)
    with _progress("backing up", as_json) as advance:
        exporter = None
        if settings.backup.kind == "logical":

            def exporter(s: Settings, backup_id: str, read_time: datetime, _: Any) -> Any:
                return export_logical(s, backup_id, read_time=read_time, progress=advance)

        record = _guard(
            lambda: run_backup(
                settings, backup_id_for(now, manual=True), now, ["manual"], exporter=exporter
            )
        )
    if record is None:
        fail("a backup with this name is already running; try again in a second")
    if as_json:
        emit_json(record.model_dump(mode="json"))
    else:
        console.print(
            f"[green]backup {record.id}[/] {record.state}: {record.documents} documents, "
            f"{record.bytes} bytes, verified: {record.verified}"
        )
    if record.state != "succeeded":
        raise typer.Exit(EXIT_BAD)


@backup_app.command("list")
def backup_list(
    include_deleted: Annotated[bool, typer.Option("--all", help="Include deleted.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List backups, newest first.

    Example: firewatch backup list
    """
    from rich.table import Table

    from monitoring.backups.catalog import list_backups

    records = _guard(lambda: list_backups(_settings(), include_deleted=include_deleted))
    if as_json:
        emit_json([r.model_dump(mode="json") for r in records])
        return
    table = Table(title=f"{len(records)} backups")
    for column in ("id", "kind", "tags", "state", "verified", "documents", "bytes", "read time"):
        table.add_column(column)
    for r in records:
        style = "green" if r.state == "succeeded" else "red"
        read = f"{r.read_time:%Y-%m-%d %H:%M:%S}" if r.read_time else "-"
        table.add_row(*cells(
            r.id, r.kind, ",".join(r.tags), f"[{style}]{r.state}[/]", str(r.verified),
            str(r.documents), str(r.bytes), read,
        ))  # fmt: skip
    console.print(table)


@backup_app.command("verify")
def backup_verify(
    backup_id: Annotated[str | None, typer.Argument(help="Backup id (default: newest).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a backup's files against its manifest; exit 1 if they do not match.

    Example: firewatch backup verify 20260302T0200Z
    """
    from monitoring.backups.recovery import newest_restorable
    from monitoring.backups.verify import verify_backup

    settings = _settings()
    if backup_id is not None:
        document_id(backup_id, "a backup id")
    target = backup_id or _guard(lambda: newest_restorable(settings)).id
    result = _guard(lambda: verify_backup(settings, target))
    if as_json:
        emit_json(result.as_dict())
    elif result.ok:
        console.print(f"[green]ok[/] {target}: {result.files} files, {result.bytes} bytes")
    else:
        console.print(f"[red]failed[/] {target}: " + "; ".join(result.problems))
    if not result.ok:
        raise typer.Exit(EXIT_BAD)


@backup_app.command("prune")
def backup_prune(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would go.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete backups no retention rule keeps (30 daily, 12 weekly, 12 monthly by default).

    Example: firewatch backup prune --dry-run
    """
    from monitoring.backups.retention import apply_retention

    plan = _guard(lambda: apply_retention(_settings(), datetime.now(UTC), dry_run=dry_run))
    if as_json:
        emit_json(plan.as_dict())
        return
    verb = "would delete" if dry_run else "deleted"
    console.print(f"kept {len(plan.keep)}; {verb} {len(plan.delete)}")
    for record in plan.delete:
        console.print(f"  {verb} {record.id} ({record.state}, {','.join(record.tags)})")
    for restore_id in plan.restore_snapshots:
        console.print(f"  {verb} the undo snapshot of restore {restore_id}")


@backup_app.command("restore-all")
def backup_restore_all(
    backup_id: Annotated[
        str | None, typer.Option("--backup", help="Backup id (default: newest good one).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read, count, write nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a whole backup back into the database (same-path documents are overwritten).

    Example: firewatch backup restore-all --backup 20260302T0200Z --yes
    """
    from monitoring.backups.recovery import restore_database

    if backup_id is not None:
        document_id(backup_id, "a backup id")
    if not (yes or dry_run or typer.confirm("Overwrite the database from a backup?")):
        raise typer.Exit(EXIT_BAD)
    settings = _settings()
    with _progress("restoring", as_json) as advance:
        summary = _guard(
            lambda: restore_database(
                settings, backup_id, dry_run=dry_run, actor=_actor(actor), progress=advance
            )
        )
    if as_json:
        emit_json(summary)
    else:
        console.print(
            f"[green]{'would restore' if dry_run else 'restored'}[/] from {summary['backup_id']}: "
            f"{summary.get('documents', '?')} documents, "
            f"{summary.get('skipped_erased', 0)} erased skipped"
        )


@restore_app.command("user")
def restore_user(
    user_id: Annotated[str, typer.Argument(help="The user whose data to restore.")],
    at: Annotated[str, typer.Option("--at", help="Restore point: ISO 8601 or 2h (ago).")],
    mode: Annotated[str, typer.Option("--mode", help="replace or merge.")] = "replace",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the plan.")] = False,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Restore one user's documents to a point in time; prints an id for `restore undo`.

    Example: firewatch restore user u123 --at 2026-03-02T11:00:00Z --mode merge --dry-run
    """
    from monitoring.backups.restore import restore_user_data

    document_id(user_id, "a user id")
    if mode not in ("replace", "merge"):
        fail(f"--mode must be replace or merge, not {mode!r}", EXIT_USAGE)
    point = parse_time(at, datetime.now(UTC))
    chosen: Mode = "merge" if mode == "merge" else "replace"
    result = _guard(
        lambda: restore_user_data(
            _settings(), user_id, point, chosen, dry_run=dry_run, actor=_actor(actor)
        )
    )
    if as_json:
        emit_json(result.as_dict())
        return
    head = "plan" if dry_run else f"restore {result.restore_id}"
    console.print(f"[bold]{head}[/] for {user_id} from {result.source} ({mode})")
    for label, paths in (
        ("create", result.creates),
        ("change", result.changes),
        ("delete", result.deletes),
        ("skip (erased)", result.skipped_erased),
    ):
        for path in paths:
            console.print(f"  {label:14} {path}")
    if dry_run:
        planned = len(result.creates) + len(result.changes) + len(result.deletes)
        console.print(f"{result.unchanged} unchanged, {planned} writes planned (dry run)")
    else:
        console.print(f"{result.unchanged} unchanged, {result.writes} writes")


@restore_app.command("undo")
def restore_undo(
    restore_id: Annotated[str, typer.Argument(help="The id `restore user` printed.")],
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Put back what a restore changed.

    Example: firewatch restore undo 20260302T120501-1a2b3c4d
    """
    from monitoring.backups.restore import undo_restore

    document_id(restore_id, "a restore id")
    writes = _guard(lambda: undo_restore(_settings(), restore_id, actor=_actor(actor)))
    if as_json:
        emit_json({"restore_id": restore_id, "writes": writes})
    else:
        console.print(f"[green]undone[/] {restore_id}: {writes} writes")


@restore_app.command("verify")
def restore_verify(
    user_id: Annotated[str, typer.Argument(help="The user to check.")],
    at: Annotated[
        str | None, typer.Option("--at", help="Compare with this point (default: last restore).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare a user's data with its source and list dangling references; exit 1 if off.

    Example: firewatch restore verify u123 --at 2h
    """
    from monitoring.backups.restore import verify_data_integrity

    document_id(user_id, "a user id")
    point = parse_time(at, datetime.now(UTC)) if at else None
    report = _guard(lambda: verify_data_integrity(_settings(), user_id, restore_point=point))
    if as_json:
        emit_json(report.as_dict())
    else:
        console.print(
            f"{user_id} against {report.source or 'no restore record (references checked only)'}"
        )
        for name, summary in report.collections.items():
            flag = "[red]differs[/]" if name in report.mismatched else "[green]ok[/]"
            console.print(f"  {name:24} {summary['count']:6} documents  {flag}")
        for problem in report.dangling:
            console.print(f"  [red]dangling[/] {problem}")
    if not report.ok:
        raise typer.Exit(EXIT_BAD)


@restore_app.command("erase")
def restore_erase(
    user_id: Annotated[str, typer.Argument(help="The user who asked for erasure.")],
    path: Annotated[
        list[str] | None, typer.Option("--path", help="Only this document (repeatable).")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Ticket or note.")] = "",
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record that a user's data was erased on request, so no restore brings it back.

    Example: firewatch restore erase u123 --reason "GDPR ticket 42"
    """
    from monitoring.backups.restore import record_erasure

    document_id(user_id, "a user id")
    for each in path or []:
        document_path(each, "--path")
    erasure = _guard(
        lambda: record_erasure(
            _settings(), user_id, at=datetime.now(UTC), paths=path or None,
            actor=_actor(actor), reason=reason,
        )
    )  # fmt: skip
    if as_json:
        emit_json(erasure.model_dump(mode="json"))
    else:
        console.print(f"[green]recorded[/] erasure {erasure.id} for {user_id}")


def register(app: typer.Typer) -> None:
    """Add this subsystem's commands to the top-level firewatch app."""
    app.add_typer(backup_app, name="backup")
    app.add_typer(restore_app, name="restore")
