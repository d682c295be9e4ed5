"""Logging setup: Cloud Logging's JSON shape when deployed, plain lines locally.

Modules log through ``logging.getLogger(__name__)`` with ``%`` arguments and ``extra=``
fields; this module only decides how records are written. Every handler it installs runs the
``Redactor`` filter, which replaces any registered secret value with ``***`` wherever it
appears in the message, the arguments, the extra fields or a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Iterable
from typing import Any, Literal

__all__ = ["JsonFormatter", "Redactor", "configure_logging", "register_secrets"]

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}
MASK = "***"


class Redactor(logging.Filter):
    """Mask registered secrets in records before any handler formats them."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            # Very short values would mask ordinary words; a secret that short is no secret.
            self._secrets.update(v for v in values if len(v) >= 6)

    def mask(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        record.msg = self.mask(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, self.mask(value))
        return True


_redactor = Redactor()


def register_secrets(values: Iterable[str]) -> None:
    """Add values that must never appear in a log line."""
    _redactor.add(values)


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}


class JsonFormatter(logging.Formatter):
    """One JSON object per line with ``severity``, ``message`` and the extra fields.

    This is the shape the firebase-functions logger writes and Cloud Logging parses.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, "DEFAULT"),
            "message": record.getMessage(),
            "logger": record.name,
        }
        if record.exc_info or record.exc_text:
            entry["message"] += "\n" + (record.exc_text or self.formatException(record.exc_info))  # type: ignore[arg-type]
        entry.update(extra_fields(record))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = extra_fields(record)
        if fields:
            line += "  " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line


_configured = False


def configure_logging(fmt: Literal["auto", "json", "text"] = "auto", level: str = "INFO") -> None:
    """Install one root handler; calling again only changes the level."""
    global _configured
    root = logging.getLogger()
    root.setLevel(level)
    if _configured:
        return
    use_json = fmt == "json" or (fmt == "auto" and bool(os.environ.get("K_SERVICE")))
    handler = logging.StreamHandler(sys.stderr if not use_json else sys.stdout)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler.addFilter(_redactor)
    root.addHandler(handler)
    _configured = True


def install_redactor(handler: logging.Handler) -> None:
    """Attach the redaction filter to a handler installed by someone else (tests, hosts)."""
    handler.addFilter(_redactor)
