"""The ``firewatch`` command: one way in for operators.

Each subsystem contributes its subcommands from its own ``cli`` module; this module wires
them together and owns the top-level habits (``--debug``, error handling, exit codes).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import traceback
from datetime import UTC, datetime
from typing import NoReturn

import click
import httpx
import typer

from monitoring.cliutil import EXIT_BAD, EXIT_USAGE, console, emit_json, fail, state
from monitoring.errors import ConfigError, FirewatchError, InputError

app = typer.Typer(
    name="firewatch",
    help="Monitoring and operations for a Firebase app.\n\n"
    "Examples:\n\n  firewatch dev\n\n  firewatch run evaluate_alerts"
    "\n\n  firewatch alerts validate",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    state.debug = debug
    # Beside `make run`, every other command works on the local stack's emulators.
    if ctx.invoked_subcommand != "dev":
        from monitoring.localstack.devhost import adopt_dev_environment

        adopt_dev_environment()


@app.command()
def dev(
    port: int = typer.Option(8000, help="Port of the functions host."),
    project: str = typer.Option("demo-firewatch", help="Project id used by the emulators."),
) -> None:
    """Start the emulators, mail and webhook catchers, and serve every function locally.

    Example: firewatch dev --port 8000
    """
    from monitoring.localstack.devhost import DevHost, LocalStack, load_functions, serve
    from monitoring.logs import configure_logging

    configure_logging("text", "INFO")

    def stop_on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # `kill` and process managers stop us as Ctrl-C does

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    stack = LocalStack(project_id=project).start()
    try:
        host = DevHost(load_functions(), stack)
        base = f"http://127.0.0.1:{port}"
        console.print(f"[bold]Firewatch dev host[/] on {base}")
        for name in host.http_functions:
            console.print(f"  {base}/{name}")
        console.print(f"  scheduled: {', '.join(job.name for job in host.jobs)}")
        console.print(f"  inbox (mail and webhooks): {base}/__/inbox")
        console.print(f"  dashboard: {base}/dashboard  (API key: {stack.api_key})")
        console.print(
            f"  Firestore emulator: {stack.firestore.url}   Storage emulator: {stack.storage.host}"
        )
        serve(host, port)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


@app.command()
def run(
    name: str = typer.Argument(..., help="A scheduled function of main.py, e.g. evaluate_alerts."),
    in_process: bool = typer.Option(
        False,
        "--in-process",
        help="Run here against the configured project instead of the dev host.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Trigger one scheduled function now.

    Uses the running `firewatch dev` host when there is one; otherwise (or with --in-process)
    runs the function in this process against the configured Firestore.

    Example: firewatch run evaluate_alerts
    """
    from monitoring.localstack.devhost import load_functions, state_file

    path = state_file()
    host: dict[str, object] = {}
    if path.exists() and not in_process:
        try:
            host = json.loads(path.read_text())
            url = host["url"]
        except (ValueError, KeyError, TypeError):
            fail(f"{path} is not the dev host's state file; delete it or use --in-process")
    if host and not _host_died(host):
        try:
            reply = httpx.post(f"{url}/__/run/{name}", timeout=600)
        except httpx.ConnectError:
            fail(
                f"the dev host at {url} is not answering; "
                "start it with `make run` or use --in-process"
            )
        try:
            outcome = reply.json()
        except ValueError:
            fail(f"the dev host at {url} answered HTTP {reply.status_code} without JSON")
        if reply.status_code == 404:
            fail(str(outcome.get("error", f"no scheduled function named {name!r}")), EXIT_USAGE)
    else:
        functions = load_functions()
        function = functions.get(name)
        if function is None or not function.__firebase_endpoint__.scheduleTrigger:
            scheduled = sorted(
                n for n, f in functions.items() if f.__firebase_endpoint__.scheduleTrigger
            )
            fail(
                f"no scheduled function named {name!r}; choose one of {', '.join(scheduled)}",
                EXIT_USAGE,
            )
        from firebase_functions.scheduler_fn import ScheduledEvent

        function.__wrapped__(
            ScheduledEvent(job_name="firewatch-run", schedule_time=datetime.now(UTC))
        )
        outcome = {"function": name, "ok": True}

    if as_json:
        emit_json(outcome)
    elif outcome.get("ok"):
        console.print(f"[green]ran[/] {name} in {outcome.get('duration_ms', '?')} ms")
    else:
        console.print(f"[red]failed[/] {name}: {outcome.get('error')}")
    if not outcome.get("ok"):
        raise typer.Exit(EXIT_BAD)


demo_app = typer.Typer(
    help="Demo app data in the local emulators (the reference RAG Prompt Library).",
    no_args_is_help=True,
)


@demo_app.command("seed")
def demo_seed(as_json: bool = typer.Option(False, "--json", help="Print counts as JSON.")) -> None:
    """Write demo users (alice, bob, carol) with prompts, executions and documents.

    Example: firewatch demo seed
    """
    from monitoring.config import load_settings
    from monitoring.localstack.demo import seed

    counts = seed(load_settings(), datetime.now(UTC))
    if as_json:
        emit_json(counts)
    else:
        console.print("seeded " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))


@demo_app.command("damage")
def demo_damage(
    user: str = typer.Argument("alice", help="Whose data to damage."),
    as_json: bool = typer.Option(False, "--json", help="Print counts as JSON."),
) -> None:
    """Delete a demo user's prompts and corrupt their documents, to practise a restore.

    Example: firewatch demo damage alice
    """
    from monitoring.config import load_settings
    from monitoring.localstack.demo import damage

    counts = damage(load_settings(), user)
    if as_json:
        emit_json(counts)
    else:
        console.print(
            f"{user}: deleted {counts['deleted']} prompts, changed {counts['changed']} documents"
        )


app.add_typer(demo_app, name="demo")


def _host_died(host: dict[str, object]) -> bool:
    """True when the dev host that wrote its state file is gone (it leaves the file behind)."""
    try:
        os.kill(int(str(host["pid"])), 0)
    except KeyError:
        return False  # no pid recorded: try its URL
    except (OSError, ValueError):
        return True
    return False


def _register_subsystems() -> None:
    from monitoring.alerts import cli as alerts_cli
    from monitoring.backups import cli as backups_cli
    from monitoring.dashboard import cli as dashboard_cli
    from monitoring.health import cli as health_cli
    from monitoring.incidents import cli as incidents_cli
    from monitoring.kpi import cli as kpi_cli
    from monitoring.maintenance import cli as maintenance_cli
    from monitoring.notifiers import cli as notifiers_cli
    from monitoring.replay import cli as replay_cli

    for module in (
        kpi_cli,
        alerts_cli,
        notifiers_cli,
        health_cli,
        backups_cli,
        incidents_cli,
        maintenance_cli,
        replay_cli,
        dashboard_cli,
    ):
        module.register(app)


_register_subsystems()


def main() -> None:
    """Entry point of the ``firewatch`` console script."""
    state.json = "--json" in sys.argv[1:]
    try:
        # Without standalone mode click returns a typer.Exit's code instead of raising it.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    # typer >= 0.22 vendors its own click: its Exit, Abort and usage errors are not click's.
    except (typer.Exit, click.exceptions.Exit) as done:
        sys.exit(done.exit_code)
    except (typer.Abort, click.exceptions.Abort):
        sys.exit(130)
    except (typer.TyperException, click.ClickException) as error:
        show = getattr(error, "show", None)
        if show is not None:
            show()
            if state.json:
                emit_json({"error": error.format_message(), "exit_code": EXIT_USAGE})
            sys.exit(EXIT_USAGE)
        _fail_and_exit(error.format_message(), EXIT_USAGE)
    except (FirewatchError, OSError) as error:
        if state.debug:
            traceback.print_exc()
        # On the command line an InputError is about an argument the operator typed.
        code = EXIT_USAGE if isinstance(error, ConfigError | InputError) else EXIT_BAD
        _fail_and_exit(str(error), code)
    except Exception as error:
        logging.getLogger(__name__).debug("crash", exc_info=True)
        if state.debug:
            traceback.print_exc()
        if type(error).__name__ == "DefaultCredentialsError":  # google.auth, not imported here
            _fail_and_exit(
                "no Google credentials: start the local stack with `make run`, or run "
                "`gcloud auth application-default login` to use the real project",
                EXIT_BAD,
            )
        _fail_and_exit(
            f"{type(error).__name__}: {error} (run with --debug for the traceback)", EXIT_BAD
        )


def _fail_and_exit(message: str, code: int) -> NoReturn:
    try:
        fail(message, code)
    except (typer.Exit, click.exceptions.Exit) as done:
        sys.exit(done.exit_code)


if __name__ == "__main__":
    main()
