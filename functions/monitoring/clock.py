"""Time as an injectable dependency.

Every component that reads the time takes a ``Clock``. Production code uses ``SystemClock``;
tests use ``ManualClock`` and move it, so no test sleeps to let time pass.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock", "as_utc", "floor_minute"]


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to. Safe to share between threads."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = as_utc(start) if start else datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = as_utc(when)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move forward by ``delta`` (or ``timedelta(**kwargs)``) and return the new time."""
        step = delta if delta is not None else timedelta(**kwargs)
        if step < timedelta(0):
            raise ValueError("a clock cannot move backwards")
        with self._lock:
            self._now += step
            return self._now


def as_utc(when: datetime) -> datetime:
    """Return ``when`` in UTC; a naive datetime is taken to be UTC already."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def floor_minute(when: datetime) -> datetime:
    return as_utc(when).replace(second=0, microsecond=0)
