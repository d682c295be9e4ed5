"""`firewatch notify`: list receivers, send a test message, look at the outbox."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import typer

from monitoring.cliutil import EXIT_BAD, EXIT_USAGE, cells, console, emit_json, fail

notify = typer.Typer(
    help="Notification receivers and delivery.\n\nExample: firewatch notify test oncall-slack",
    no_args_is_help=True,
)


def _load() -> tuple[Any, Any]:
    from monitoring.config import load_settings
    from monitoring.notifiers.outbox import routing_for

    # A ConfigError reaches main(), which exits 2 like every other command's bad setting.
    settings = load_settings()
    return settings, routing_for(settings)


@notify.command("receivers")
def receivers(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the receivers in alerts.yaml with secrets masked, and where routes send what.

    Example: firewatch notify receivers
    """
    from rich.table import Table

    from monitoring.notifiers import build_notifier
    from monitoring.notifiers.jobs import context_for

    settings, routing = _load()
    ctx = context_for(settings)
    rows = [
        {
            "name": name,
            "kind": config.kind,
            "target": build_notifier(name, config, ctx).describe(),
            "fallback": config.fallback,
        }
        for name, config in routing.receivers.items()
    ]
    if as_json:
        emit_json({"receivers": rows, "dev_catch_all": ctx.dev_url is not None})
        return
    table = Table(title=f"Receivers in {settings.alerts_file}")
    for column in ("name", "kind", "target", "fallback"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*cells(row["name"], row["kind"], row["target"], row["fallback"] or "-"))
    console.print(table)
    if ctx.dev_url:
        console.print("[yellow]local mode:[/] every receiver is sent to the dev catchers")


@notify.command("test")
def test(
    receiver: str = typer.Argument(..., help="A receiver name from alerts.yaml."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Send a test message to RECEIVER now (not through the outbox) and report the outcome.

    Exits 0 when it was delivered, 1 when it failed, 2 for an unknown receiver.

    Example: firewatch notify test oncall-slack
    """
    import httpx

    from monitoring.errors import DeliveryError, FirewatchError
    from monitoring.notifiers import build_notifier
    from monitoring.notifiers.base import Message
    from monitoring.notifiers.jobs import context_for
    from monitoring.notifiers.model import Notification

    settings, routing = _load()
    config = routing.receivers.get(receiver)
    if config is None:
        names = ", ".join(routing.receivers) or "none"
        fail(
            f"no receiver named {receiver!r} in {settings.alerts_file}; known: {names}", EXIT_USAGE
        )

    now = datetime.now(UTC)
    notification = Notification(
        key=f"test:{receiver}:{now:%Y%m%dT%H%M%S}",
        kind="test",
        status="info",
        severity="info",
        title=f"Firewatch test message for {receiver}",
        summary="If you can read this, the receiver works.",
        description=f"Sent by `firewatch notify test {receiver}` at {now:%Y-%m-%d %H:%M:%S} UTC.",
        created_at=now,
    )
    ctx = context_for(settings)
    ctx.client = httpx.Client()
    notifier = build_notifier(receiver, config, ctx)
    began = time.perf_counter()
    error: FirewatchError | None = None
    try:
        notifier.send(
            Message(key=notification.key, notifications=[notification], receiver=receiver)
        )
    except (DeliveryError, FirewatchError) as raised:
        error = raised
    finally:
        ctx.client.close()
    outcome = {
        "receiver": receiver,
        "kind": config.kind,
        "target": notifier.describe(),
        "ok": error is None,
        "error": str(error) if error else None,
        "permanent": getattr(error, "permanent", None),
        "duration_ms": round((time.perf_counter() - began) * 1000),
    }
    if as_json:
        emit_json(outcome)
    elif error is None:
        console.print(
            f"[green]delivered[/] to {receiver} ({notifier.describe()}) "
            f"in {outcome['duration_ms']} ms"
        )
    else:
        console.print(f"[red]failed[/] {receiver}: {error}")
    if error is not None:
        raise typer.Exit(EXIT_BAD)


@notify.command("outbox")
def outbox(
    limit: int = typer.Option(20, help="How many pending and dead-lettered rows to show."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show notifications waiting in the outbox and the latest dead letters.

    Exits 1 when there are dead letters, so a script can alert on them.

    Example: firewatch notify outbox --limit 50
    """
    from monitoring.store import Collections, firestore_client

    settings, _ = _load()
    db = firestore_client(settings)
    pending = []
    for snap in db.collection(Collections.OUTBOX).order_by("next_attempt_at").limit(limit).stream():
        doc = snap.to_dict() or {}
        waiting = {n: e for n, e in doc.get("receivers", {}).items() if e["state"] == "pending"}
        pending.append(
            {
                "id": snap.id,
                "title": doc["notification"]["title"],
                "next_attempt_at": doc["next_attempt_at"],
                "receivers": {n: e.get("last_error") or "pending" for n, e in waiting.items()},
            }
        )
    dead = [
        {k: (snap.to_dict() or {}).get(k) for k in ("receiver", "title", "error", "at")}
        for snap in db.collection(Collections.DEAD_LETTERS)
        .order_by("at", direction="DESCENDING")
        .limit(limit)
        .stream()
    ]
    if as_json:
        emit_json({"pending": pending, "dead_letters": dead})
    else:
        console.print(f"[bold]{len(pending)}[/] pending")
        for row in pending:
            console.print(
                f"  {row['title']}  next {row['next_attempt_at']:%H:%M:%S}  {row['receivers']}"
            )
        console.print(f"[bold]{len(dead)}[/] dead letters")
        for row in dead:
            console.print(f"  [red]{row['receiver']}[/] {row['title']}: {row['error']}")
    if dead:
        raise typer.Exit(EXIT_BAD)


def register(app: typer.Typer) -> None:
    """Add this subsystem's commands to the top-level firewatch app."""
    app.add_typer(notify, name="notify")
