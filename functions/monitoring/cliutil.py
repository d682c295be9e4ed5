"""Habits every ``firewatch`` subcommand shares.

Exit status 0 on success, 1 when what was checked is bad, 2 on usage errors. Errors print as
one sentence; ``--debug`` (on the top-level command) adds the traceback. ``--json`` output goes
to stdout alone, so scripts can parse it.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

__all__ = [
    "EXIT_BAD",
    "EXIT_OK",
    "EXIT_USAGE",
    "console",
    "document_id",
    "document_path",
    "emit_json",
    "fail",
    "state",
]

EXIT_OK, EXIT_BAD, EXIT_USAGE = 0, 1, 2

# Piped into a file or another program, rich would cut tables at 80 columns; ids and times
# then wrap or lose characters. Outside a terminal use COLUMNS, or a wide default.
_COLUMNS = os.environ.get("COLUMNS", "")
_PIPED_WIDTH = None if sys.stdout.isatty() else int(_COLUMNS) if _COLUMNS.isdigit() else 160
console = Console(width=_PIPED_WIDTH)
err_console = Console(stderr=True)


class _State:
    debug = False
    # Set by main() when the command line asks for --json: errors then also go to stdout as
    # {"error": ..., "exit_code": ...}, so a script parsing stdout never sees nothing.
    json = False


state = _State()


def fail(message: str, code: int = EXIT_BAD) -> NoReturn:
    """Print ``message`` as the one-sentence error and exit with ``code``."""
    # soft_wrap: the sentence stays one line (rich would break it at 80 columns, mid-path),
    # so logs and scripts can grep it.
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    if state.json:
        emit_json({"error": message, "exit_code": code})
    raise typer.Exit(code)


def cells(*values: Any) -> list[Any]:
    """Return table cells with rich markup in text escaped: data is shown as it is.

    A title like "[replay] backup_missing" would otherwise lose "[replay]" as a style tag.
    """
    return [escape(v) if isinstance(v, str) else v for v in values]


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def document_id(value: str, noun: str) -> str:
    """Return ``value`` when it can be a Firestore document id; else fail with exit 2.

    ``noun`` has its article: "an incident id". Without this check Firestore answers an
    empty, reserved or '/'-holding id with a paragraph about paths.
    """
    from monitoring.errors import InputError
    from monitoring.store import check_document_id

    try:
        return check_document_id(value, noun)
    except InputError as error:
        fail(str(error), EXIT_USAGE)


def document_path(value: str, option: str) -> str:
    """Return ``value`` when it is a document path (``prompts/p1``); else fail with exit 2."""
    from monitoring.errors import InputError
    from monitoring.store import check_document_path

    try:
        return check_document_path(value)
    except InputError as error:
        fail(f"{option} {error}", EXIT_USAGE)
