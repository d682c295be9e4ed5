"""Where rule conditions read metrics from: a small protocol with two implementations.

Production evaluates against ``monitoring.kpi.query.KpiQuery``; rule unit tests
(``firewatch alerts test``) and the evaluator's own tests use ``MemorySource``, which keeps
minute points in memory. Both answer the same two calls, so a rule behaves the same in a test
file as in production. ``CachingSource`` answers repeated questions within one evaluation
from memory, so 200 rules asking for the same window cost one read, not 200.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from monitoring.clock import as_utc, floor_minute

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["CachingSource", "KpiSource", "MemorySource", "MetricSource", "Window"]

AGGS = ("count", "sum", "avg", "min", "max", "rate", "quantile", "distinct", "last")


@dataclass(frozen=True)
class Window:
    """Whole minutes in UTC, start inclusive, end exclusive (the KPI query API's shape)."""

    start: datetime
    end: datetime

    @classmethod
    def last(cls, now: datetime, length: timedelta) -> Window:
        end = floor_minute(now)
        return cls(end - length, end)

    @classmethod
    def utc_day(cls, now: datetime) -> Window:
        """Return the UTC day of ``now`` up to its last completed minute."""
        end = floor_minute(now)
        return cls(end.replace(hour=0, minute=0), end)

    def shift(self, delta: timedelta) -> Window:
        return Window(self.start + delta, self.end + delta)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


class MetricSource(Protocol):
    """What the evaluator needs from a metric store; ``None`` means no data in the window.

    ``distinct_per_day`` says distinct counts cover whole UTC days (the KPI store keeps ids
    per day), not the exact window asked for.
    """

    distinct_per_day: bool

    def aggregate(
        self,
        metric: str,
        agg: str,
        window: Window,
        labels: Mapping[str, str] | None = None,
        q: float | None = None,
    ) -> float | None: ...

    def aggregate_by(
        self,
        metric: str,
        agg: str,
        window: Window,
        by: str,
        labels: Mapping[str, str] | None = None,
        q: float | None = None,
    ) -> dict[str, float | None]: ...


@dataclass
class _Point:
    labels: dict[str, str]
    count: float = 0.0
    total: float = 0.0
    values: list[float] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)


class MemorySource:
    """Minute points held in memory; exact quantiles (nearest rank) instead of sketches."""

    distinct_per_day = False

    def __init__(self) -> None:
        self._points: dict[str, dict[datetime, list[_Point]]] = defaultdict(dict)
        self.reads = 0

    def add(
        self,
        metric: str,
        minute: datetime,
        value: float,
        labels: Mapping[str, str] | None = None,
        *,
        count: float = 1.0,
        distinct_ids: set[str] | None = None,
    ) -> None:
        """Record ``count`` events summing to ``value`` in ``minute`` (a gauge: its level)."""
        point = _Point(dict(labels or {}), count, value, [value], set(distinct_ids or ()))
        self._points[metric].setdefault(floor_minute(minute), []).append(point)

    def _select(
        self, metric: str, window: Window, labels: Mapping[str, str] | None
    ) -> list[tuple[datetime, _Point]]:
        self.reads += 1
        wanted = dict(labels or {})
        chosen = []
        for minute, points in self._points.get(metric, {}).items():
            if not window.start <= minute < window.end:
                continue
            for point in points:
                if all(point.labels.get(k) == v for k, v in wanted.items()):
                    chosen.append((minute, point))
        return chosen

    def aggregate(
        self,
        metric: str,
        agg: str,
        window: Window,
        labels: Mapping[str, str] | None = None,
        q: float | None = None,
    ) -> float | None:
        return _combine(self._select(metric, window, labels), agg, window, q)

    def aggregate_by(
        self,
        metric: str,
        agg: str,
        window: Window,
        by: str,
        labels: Mapping[str, str] | None = None,
        q: float | None = None,
    ) -> dict[str, float | None]:
        groups: dict[str, list[tuple[datetime, _Point]]] = defaultdict(list)
        for minute, point in self._select(metric, window, labels):
            if by in point.labels:
                groups[point.labels[by]].append((minute, point))
        return {key: _combine(items, agg, window, q) for key, items in groups.items()}


def _combine(
    items: list[tuple[datetime, _Point]], agg: str, window: Window, q: float | None
) -> float | None:
    if not items:
        return None
    points = [point for _, point in items]
    values = sorted(v for point in points for v in point.values)
    if agg == "count":
        return sum(point.count for point in points)
    if agg == "sum":
        return sum(point.total for point in points)
    if agg == "rate":
        return sum(point.total for point in points) / window.seconds
    if agg == "avg":
        events = sum(point.count for point in points)
        return sum(point.total for point in points) / events if events else None
    if agg == "min":
        return values[0]
    if agg == "max":
        return values[-1]
    if agg == "last":
        return max(items, key=lambda item: item[0])[1].total
    if agg == "distinct":
        return float(len(set().union(*(point.ids for point in points))))
    if agg == "quantile":
        rank = max(1, math.ceil((q if q is not None else 0.5) * len(values)))
        return values[rank - 1]
    raise ValueError(f"unknown aggregation {agg!r}; use one of {', '.join(AGGS)}")


class CachingSource:
    """Answer each distinct question once per evaluation."""

    def __init__(self, inner: MetricSource) -> None:
        self.inner = inner
        self.distinct_per_day = inner.distinct_per_day
        self._cache: dict[tuple[Any, ...], Any] = {}

    def aggregate(
        self,
        metric: str,
        agg: str,
        window: Window,
        labels: Mapping[str, str] | None = None,
        q: float | None = None,
    ) -> float | None:
        key = ("agg", metric, agg, window, tuple(sorted((labels or {}).items())), q)
        if key not in self._cache:
            self._cache[key] = self.inner.aggregate(metric, agg, window, labels, q)
        result: float | None = self._cache[key]
        return result

    def aggregate_by(
        self,
        metric: str,
        agg: str,
        window: Window,
        by: str,
        labels: Mapping[str, str] | None = None,
        q: float | None = None,
    ) -> dict[str, float | None]:
        key = ("by", metric, agg, window, by, tuple(sorted((labels or {}).items())), q)
        if key not in self._cache:
            self._cache[key] = self.inner.aggregate_by(metric, agg, window, by, labels, q)
        result: dict[str, float | None] = self._cache[key]
        return result


class KpiSource:
    """The production source: ``monitoring.kpi.query.KpiQuery`` behind this protocol."""

    distinct_per_day = True

    def __init__(self, settings: Settings, client: Any = None) -> None:
        from monitoring.kpi.query import KpiQuery

        self.query: Any = KpiQuery(settings, client)

    @property
    def reads(self) -> int:
        return int(self.query.reads)

    def _window(self, window: Window) -> Any:
        from monitoring.kpi.query import Window as KpiWindow

        return KpiWindow(as_utc(window.start), as_utc(window.end))

    def aggregate(
        self,
        metric: str,
        agg: str,
        window: Window,
        labels: Mapping[str, str] | None = None,
        q: float | None = None,
    ) -> float | None:
        value = self.query.aggregate(metric, agg, self._window(window), labels=labels, q=q)
        return None if value is None else float(value)

    def aggregate_by(
        self,
        metric: str,
        agg: str,
        window: Window,
        by: str,
        labels: Mapping[str, str] | None = None,
        q: float | None = None,
    ) -> dict[str, float | None]:
        result = self.query.aggregate_by(metric, agg, self._window(window), by, labels=labels, q=q)
        return {str(k): None if v is None else float(v) for k, v in result.items()}


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
