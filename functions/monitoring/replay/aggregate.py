"""Bucket parsed requests by minute, with a bounded out-of-order horizon.

Lines arrive out of time order (several workers write one file; load balancers write when a
request ends). Each request goes to the minute of its own time. A minute is *closed* (handed
to ``on_minute`` and forgotten) once a request ``horizon_minutes`` newer than it has been
seen, so memory holds at most ``horizon_minutes + 1`` open minutes whatever the file's size.

A request older than the oldest open minute is *late*: its minute was already closed (its
KPI rollup written and evaluated), so it cannot be bucketed any more. Late requests are
counted, their first line numbers kept, and they are left out of the per-minute counts and
latency quantiles, so the summary matches exactly what the pipeline saw. A bigger horizon
accepts later lines at the cost of holding more minutes in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ddsketch import DDSketch

from monitoring.replay.model import Malformed, Request

__all__ = ["SKETCH_RELATIVE_ACCURACY", "Aggregator", "LineStats", "MinuteBucket", "MinuteCount"]

# DDSketch's default: every quantile it reports is within 1 % of a true value at that rank.
SKETCH_RELATIVE_ACCURACY = 0.01


class MinuteBucket:
    """The requests of one minute: counts always, the requests themselves if kept."""

    __slots__ = ("errors", "latencies", "minute", "requests", "total")

    def __init__(self, minute: int, keep: bool) -> None:
        self.minute = minute  # minutes since the epoch
        self.total = 0
        self.errors = 0
        # Latency -> how many requests had it. Logs write latencies rounded (to the
        # millisecond mostly), so a minute holds few distinct values, and counting them is
        # much cheaper than a sketch insertion per request; the sketch takes them weighted
        # when the minute closes.
        self.latencies: dict[float, int] = {}
        self.requests: list[Request] | None = [] if keep else None


@dataclass(frozen=True)
class MinuteCount:
    minute: int  # minutes since the epoch
    requests: int
    errors: int


@dataclass
class LineStats:
    """How every line of the file was accounted for: read = parsed + rejected + skipped."""

    read: int = 0
    parsed: int = 0
    rejected: int = 0
    skipped: int = 0
    late: int = 0
    # The first ``keep_line_numbers`` rejected lines as (line number, reason), and the first
    # late ones; the totals above count them all.
    rejected_lines: list[tuple[int, str]] = field(default_factory=list)
    late_lines: list[int] = field(default_factory=list)


class Aggregator:
    """Read parsed lines into minute buckets and whole-file figures.

    ``on_minute`` is called once per minute from the first to the last minute of the log, in
    time order and including minutes without requests, as soon as each minute closes.
    """

    def __init__(
        self,
        *,
        horizon_minutes: int = 5,
        keep_requests: bool = False,
        on_minute: Callable[[MinuteBucket], None] | None = None,
        keep_line_numbers: int = 20,
    ) -> None:
        if horizon_minutes < 0:
            raise ValueError("horizon_minutes must be 0 or more")
        self.horizon = horizon_minutes
        self.keep_requests = keep_requests
        self.on_minute = on_minute
        self.keep_line_numbers = keep_line_numbers
        self.stats = LineStats()
        self.sketch = DDSketch(relative_accuracy=SKETCH_RELATIVE_ACCURACY)
        self.minutes: list[MinuteCount] = []  # one small record per closed minute
        self.requests = 0
        self.errors = 0
        self._open: dict[int, MinuteBucket] = {}
        self._newest: int | None = None  # the newest minute seen
        self._next_close: int | None = None  # the oldest minute not closed yet

    def consume(self, lines: Iterable[str], parse: Callable[[str], Request | None]) -> None:
        """Parse and bucket every line; line numbers continue from earlier calls."""
        stats = self.stats
        add = self.add
        lineno = stats.read
        for line in lines:
            lineno += 1
            if not line or line.isspace():
                stats.skipped += 1
                continue
            try:
                request = parse(line)
            except Malformed as error:
                stats.rejected += 1
                if len(stats.rejected_lines) < self.keep_line_numbers:
                    stats.rejected_lines.append((lineno, str(error)))
                continue
            if request is None:
                stats.skipped += 1
            else:
                stats.parsed += 1
                add(request, lineno)
        stats.read = lineno

    def add(self, request: Request, lineno: int = 0) -> None:
        minute = int(request.at // 60)
        newest = self._newest
        if newest is not None and minute < newest - self.horizon:
            self.stats.late += 1
            if len(self.stats.late_lines) < self.keep_line_numbers:
                self.stats.late_lines.append(lineno)
            return

        bucket = self._open.get(minute)
        if bucket is None:
            bucket = self._open[minute] = MinuteBucket(minute, self.keep_requests)
        bucket.total += 1
        if request.status >= 500:
            bucket.errors += 1
        if bucket.requests is not None:
            bucket.requests.append(request)
        latency = request.latency_ms
        if latency is not None:
            latencies = bucket.latencies
            latencies[latency] = latencies.get(latency, 0) + 1

        if newest is None or minute > newest:
            self._newest = minute
            self._close_before(minute - self.horizon)

    def finish(self) -> None:
        """Close every open minute (the end of the file is the end of lateness)."""
        if self._newest is not None:
            self._close_before(self._newest + 1)

    def _close_before(self, limit: int) -> None:
        start = self._next_close
        if start is None:
            if not self._open:
                return
            start = min(self._open)
        if start >= limit:
            return
        for minute in range(start, limit):
            bucket = self._open.pop(minute, None) or MinuteBucket(minute, self.keep_requests)
            self.requests += bucket.total
            self.errors += bucket.errors
            self.minutes.append(MinuteCount(minute, bucket.total, bucket.errors))
            add = self.sketch.add
            for latency, count in bucket.latencies.items():
                add(latency, count)
            if self.on_minute is not None:
                self.on_minute(bucket)
        self._next_close = limit
