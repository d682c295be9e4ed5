"""Timestamp parsing with a per-second cache.

Log lines from the same second share their timestamp text up to the seconds, so each distinct
second is parsed once (``calendar.timegm``) and later lines cost one dict lookup. The caches
are bounded: they are cleared when full, which only costs re-parsing.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitoring.replay.model import Malformed, ReplayInputError

__all__ = ["ClfClock", "IsoClock", "load_tz"]

_CACHE_LIMIT = 8192
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def load_tz(name: str | None) -> tzinfo | None:
    """Return the zone named ``name`` ("Europe/Paris", "UTC"), or None for no name.

    Raises ``ReplayInputError`` naming the zone when it is unknown.
    """
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReplayInputError(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC' or 'Europe/Paris'"
        ) from None


def _fraction(text: str, dot: int) -> tuple[float, int]:
    """Return the fraction of a second that starts with the "." at ``dot``, and its end.

    Only ASCII digits count: isdigit() also takes "²", which float() refuses, and a bare "."
    is no fraction at all.
    """
    end = dot + 1
    while end < len(text) and "0" <= text[end] <= "9":
        end += 1
    if end == dot + 1:
        raise Malformed(f"unreadable fraction of a second in {text!r}")
    return float(text[dot:end]), end


def _offset_seconds(zone: str) -> int:
    """Return the offset of "+0200", "-07:00" or "Z" in seconds east of UTC."""
    if zone in ("Z", "z"):
        return 0
    digits = zone[1:].replace(":", "")
    if zone[0] not in "+-" or len(digits) != 4 or not (digits.isascii() and digits.isdigit()):
        raise Malformed(f"bad time zone offset {zone!r}")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:  # RFC 3339's bounds; "+99:99" was read as 4 days off
        raise Malformed(f"bad time zone offset {zone!r}")
    seconds = hours * 3600 + minutes * 60
    return -seconds if zone[0] == "-" else seconds


def _epoch(
    year: int, month: int, day: int, hour: int, minute: int, second: int, zone: tzinfo | None
) -> float:
    """Return the epoch of a wall-clock time in ``zone`` (None = UTC).

    Raises ``ValueError`` for an impossible time (second 77, 31 February); only cache
    misses come here, so building a datetime to validate costs nothing per line.
    """
    # fold=0 picks the first of two ambiguous wall times at a DST change, as most log
    # tools do; nothing in a zone-less line can tell them apart.
    return datetime(year, month, day, hour, minute, second, tzinfo=zone or UTC).timestamp()


class ClfClock:
    """Parse Common Log Format times: "10/Oct/2000:13:55:36 -0700" or, without a zone and
    with a fraction, HAProxy's "06/Feb/2009:12:14:14.655" (read in ``default_tz``)."""

    def __init__(self, default_tz: tzinfo | None = None) -> None:
        self._tz = default_tz
        self._cache: dict[str, float] = {}

    def __call__(self, text: str) -> float:
        fraction = 0.0
        if len(text) > 20 and text[20] == ".":
            # "dd/Mon/yyyy:hh:mm:ss.fff" (HAProxy): cache by the whole second.
            fraction, end = _fraction(text, 20)
            text = text[:20] + text[end:]
        base = self._cache.get(text)
        if base is None:
            base = self._parse(text)
        return base + fraction

    def _parse(self, text: str) -> float:
        try:
            day, month_name, rest = text[:20].split("/")
            year, hour, minute, second = rest.split(":")
            month = _MONTHS[month_name]
            zone_text = text[20:].strip()
            offset = _offset_seconds(zone_text) if zone_text else None
            parts = (int(year), month, int(day), int(hour), int(minute), int(second))
        except (ValueError, KeyError):
            raise Malformed(f"unreadable time {text!r}") from None
        try:
            base = _epoch(*parts, self._tz) if offset is None else _epoch(*parts, None) - offset
        except ValueError:  # day 31 of a 30-day month, hour 25...
            raise Malformed(f"impossible time {text!r}") from None
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[text] = base
        return base


class IsoClock:
    """Parse RFC 3339 times ("2026-03-02T12:00:01.123456789Z", "...+00:00"); a time without
    an offset is read in ``default_tz`` (None = UTC)."""

    def __init__(self, default_tz: tzinfo | None = None) -> None:
        self._tz = default_tz
        self._cache: dict[str, float] = {}

    def __call__(self, text: str) -> float:
        rest = text[19:]
        fraction = 0.0
        if rest[:1] == ".":
            # Nanosecond fractions lose their last digits in a float; microseconds survive.
            fraction, end = _fraction(text, 19)
            rest = text[end:]
        key = text[:19] + rest
        base = self._cache.get(key)
        if base is None:
            base = self._parse(text[:19], rest, key)
        return base + fraction

    def _parse(self, head: str, zone_text: str, key: str) -> float:
        try:
            if len(head) != 19 or head[4] != "-" or head[10] not in "Tt ":
                raise ValueError(head)
            parts = (
                int(head[0:4]),
                int(head[5:7]),
                int(head[8:10]),
                int(head[11:13]),
                int(head[14:16]),
                int(head[17:19]),
            )
        except ValueError:
            raise Malformed(f"unreadable time {head!r}") from None
        try:
            if zone_text:
                base = _epoch(*parts, None) - _offset_seconds(zone_text)
            else:
                base = _epoch(*parts, self._tz)
        except ValueError:
            raise Malformed(f"impossible time {head!r}") from None
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = base
        return base
