"""What a log parser produces: one ``Request`` per served HTTP request."""

from __future__ import annotations

from typing import NamedTuple

from monitoring.errors import InputError

__all__ = ["Malformed", "ReplayInputError", "Request"]


class Request(NamedTuple):
    """One request read from a log line.

    ``at`` is seconds since the epoch (UTC); a tuple rather than a model because a replay
    builds hundreds of thousands of them per second.
    """

    at: float
    method: str
    path: str
    status: int
    latency_ms: float | None


class Malformed(Exception):
    """A line that should have been a request in this format but is not readable."""


class ReplayInputError(InputError):
    """The log cannot be replayed at all (unknown format, unreadable file, bad option)."""
