"""`firewatch incident ...`: open, update, acknowledge, resolve, list and mitigate."""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from monitoring.cliutil import EXIT_USAGE, cells, console, document_id, emit_json, fail

if TYPE_CHECKING:
    from monitoring.config import Settings
    from monitoring.incidents.model import Incident

__all__ = ["register"]

incident_app = typer.Typer(
    name="incident",
    help="Incidents: open, update, acknowledge, resolve, list, mitigate.\n\n"
    "Example: firewatch incident open 'Checkout failing' --priority P1 --service payments",
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print JSON instead of text.")
_AS = typer.Option(None, "--as", help="Who is acting (default: $FIREWATCH_ACTOR or your login).")
_STATUSES = ("investigating", "identified", "monitoring", "resolved")


def _settings() -> Settings:
    from monitoring.config import load_settings

    return load_settings()


def _now() -> datetime:
    return datetime.now(UTC)


def _actor(given: str | None) -> str:
    if given:
        return given
    try:
        return os.environ.get("FIREWATCH_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _id(value: str) -> str:
    return document_id(value, "an incident id")


def _priority(value: str | None) -> Any:
    if value is None:
        return None
    upper = value.upper()
    if upper not in ("P0", "P1", "P2", "P3"):
        fail(f"priority {value!r} is not one of P0, P1, P2, P3", EXIT_USAGE)
    return upper


def _show(incident: Incident, as_json: bool, verb: str) -> None:
    if as_json:
        emit_json(incident.model_dump(mode="json"))
        return
    console.print(
        f"[bold]{incident.id}[/] {verb}: {escape(incident.title)} "
        f"\\[{incident.priority}, {incident.status}]",
        highlight=False,
    )


@incident_app.command("open")
def open_(
    title: Annotated[str, typer.Argument(help="What users see, in a few words.")],
    priority: Annotated[str | None, typer.Option(help="P0-P3 (default P2).")] = None,
    service: Annotated[str | None, typer.Option(help="The service affected.")] = None,
    message: Annotated[str | None, typer.Option(help="First public update.")] = None,
    actor: str | None = _AS,
    as_json: bool = _JSON,
) -> None:
    """Open an incident by hand.

    Example: firewatch incident open 'Checkout failing' --priority P1 --service payments
    """
    from monitoring.incidents.service import open_incident

    incident = open_incident(
        _settings(),
        title=title,
        now=_now(),
        actor=_actor(actor),
        service=service,
        priority=_priority(priority),
        message=message,
    )
    _show(incident, as_json, "opened")


@incident_app.command()
def update(
    incident_id: Annotated[str, typer.Argument(help="Incident id, e.g. INC-20260302-1200-ab12.")],
    message: Annotated[str, typer.Argument(help="The update, as users should read it.")],
    status: Annotated[str | None, typer.Option(help=f"New status: {', '.join(_STATUSES)}.")] = None,
    priority: Annotated[str | None, typer.Option(help="Override the priority (P0-P3).")] = None,
    private: Annotated[bool, typer.Option(help="Keep this update off the status page.")] = False,
    actor: str | None = _AS,
    as_json: bool = _JSON,
) -> None:
    """Post an update, optionally moving the status or overriding the priority.

    Example: firewatch incident update INC-20260302-1200-ab12 'Rolling back' --status identified
    """
    from monitoring.incidents import service

    incident_id = _id(incident_id)
    if status is not None and status not in _STATUSES:
        fail(f"status {status!r} is not one of {', '.join(_STATUSES)}", EXIT_USAGE)
    settings, now, who = _settings(), _now(), _actor(actor)
    wanted = _priority(priority)
    if wanted is not None:
        service.set_priority(settings, incident_id, wanted, now=now, actor=who)
    incident = service.update(
        settings,
        incident_id,
        message=message,
        now=now,
        actor=who,
        status=status,  # type: ignore[arg-type]
        public=not private,
    )
    _show(incident, as_json, "updated")


@incident_app.command()
def ack(
    incident_id: Annotated[str, typer.Argument(help="Incident id.")],
    actor: str | None = _AS,
    as_json: bool = _JSON,
) -> None:
    """Acknowledge an incident (stops its escalation).

    Example: firewatch incident ack INC-20260302-1200-ab12 --as ana
    """
    from monitoring.incidents.service import acknowledge

    incident = acknowledge(_settings(), _id(incident_id), now=_now(), actor=_actor(actor))
    _show(incident, as_json, f"acknowledged by {incident.acknowledged_by}")


@incident_app.command()
def resolve(
    incident_id: Annotated[str, typer.Argument(help="Incident id.")],
    message: Annotated[str | None, typer.Option(help="Closing public update.")] = None,
    actor: str | None = _AS,
    as_json: bool = _JSON,
) -> None:
    """Resolve an incident and schedule its post-incident review.

    Example: firewatch incident resolve INC-20260302-1200-ab12 --message 'Fixed by rollback'
    """
    from monitoring.incidents.service import resolve as resolve_incident

    incident = resolve_incident(
        _settings(), _id(incident_id), now=_now(), actor=_actor(actor), message=message
    )
    _show(incident, as_json, "resolved")
    if not as_json and incident.review is not None:
        console.print(f"review due {incident.review.due_at:%Y-%m-%d}", highlight=False)


@incident_app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Include resolved incidents.")] = False,
    as_json: bool = _JSON,
) -> None:
    """List open incidents (or all of them).

    Example: firewatch incident list --all --json
    """
    from rich.table import Table

    from monitoring.incidents.service import list_incidents

    incidents = list_incidents(_settings(), open_only=not all_)
    if as_json:
        emit_json([i.model_dump(mode="json", exclude={"timeline"}) for i in incidents])
        return
    if not incidents:
        console.print("no open incidents" if not all_ else "no incidents")
        return
    table = Table("Id", "Priority", "Status", "Service", "Opened", "Acknowledged", "Title")
    for i in incidents:
        table.add_row(
            *cells(
                i.id,
                i.priority,
                i.status,
                i.service,
                f"{i.opened_at:%Y-%m-%d %H:%M}",
                i.acknowledged_by or "-",
                i.title,
            )
        )
    console.print(table)


@incident_app.command()
def show(
    incident_id: Annotated[str, typer.Argument(help="Incident id.")],
    as_json: bool = _JSON,
) -> None:
    """Show one incident with its timeline.

    Example: firewatch incident show INC-20260302-1200-ab12
    """
    from monitoring.incidents.service import get_incident

    incident = get_incident(_settings(), _id(incident_id))
    if as_json:
        emit_json(incident.model_dump(mode="json"))
        return
    _show(incident, False, "is")
    for entry in incident.timeline:
        mark = "public" if entry.public else "internal"
        console.print(
            f"  {entry.at:%Y-%m-%d %H:%M} {entry.kind:<14} {entry.actor:<12} [{mark}] "
            f"{entry.message}",
            highlight=False,
            markup=False,
        )


@incident_app.command()
def mitigate(
    kind: Annotated[str, typer.Argument(help="circuit_breaker or security_lockdown.")],
    params: Annotated[str, typer.Option(help='JSON parameters, e.g. \'{"flag": "payments"}\'.')],
    incident_id: Annotated[str | None, typer.Option("--incident", help="Record on it.")] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Act for real (default: dry run).")
    ] = False,
    actor: str | None = _AS,
    as_json: bool = _JSON,
) -> None:
    """Run a mitigation; without --apply it only says what it would do.

    Example: firewatch incident mitigate circuit_breaker --params '{"flag": "payments"}' --apply
    """
    from monitoring.incidents.mitigation import run_mitigation

    try:
        values = json.loads(params)
    except json.JSONDecodeError as error:
        fail(f"--params is not JSON: {error}", EXIT_USAGE)
    if not isinstance(values, dict):
        fail("--params must be a JSON object", EXIT_USAGE)
    result = run_mitigation(
        _settings(),
        kind,
        values,
        now=_now(),
        actor=_actor(actor),
        dry_run=not apply,
        incident_id=None if incident_id is None else _id(incident_id),
    )
    if as_json:
        emit_json(
            {
                "kind": result.kind,
                "dry_run": result.dry_run,
                "summary": result.summary,
                "details": result.details,
            }
        )
    else:
        console.print(("[dim]dry run:[/] " if result.dry_run else "") + result.summary)


def register(app: typer.Typer) -> None:
    """Add this subsystem's commands to the top-level firewatch app."""
    app.add_typer(incident_app)
