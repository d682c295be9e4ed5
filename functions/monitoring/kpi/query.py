"""Window queries over the rollups: what alerts, reports and the dashboard read.

A ``Window`` is whole UTC minutes, start inclusive, end exclusive. ``KpiQuery`` merges
rollups: counts, sums and extremes add exactly, quantiles come from the merged DDSketches
(within ``kpi.relative_accuracy``). Empty windows answer ``None`` ("no data"), never 0, NaN
or a division error.

Query plan. Hour rollups are written with the minutes (see ``recorder``), so a window reads
minute documents only for its partial hours at the edges and one hour document per series
for every whole hour between: a 24 h window costs at most 24 + 2 * 59 documents per series
instead of 1,440, and the answer is identical to merging every minute (sums and counts
exactly, quantiles too, since merging sketches is associative). ``series`` buckets plan the
same way, so a step of whole hours from a whole hour reads hour documents only.

Old data. Minutes older than ``kpi.minute_retention_days`` are compacted away (their hour
document says so), and hours older than ``kpi.hourly_retention_days`` fold into day
documents. Such a window's whole hours (or days) are still exact; at its edges an hour or
day rollup counts wholly when its start is inside the window and not at all otherwise, so an
old window's edges have the precision of an hour (a day beyond hourly retention).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args

from monitoring.clock import as_utc, floor_minute
from monitoring.kpi.metrics import get_metric
from monitoring.kpi.recorder import distinct_doc_id
from monitoring.kpi.rollup import LabelKey, Rollup, nearest_rank
from monitoring.store import Collections

if TYPE_CHECKING:
    from google.cloud import firestore

    from monitoring.config import Settings

__all__ = ["AGGREGATIONS", "Agg", "KpiQuery", "Window"]

Agg = Literal["count", "sum", "avg", "min", "max", "rate", "quantile", "distinct", "last"]
AGGREGATIONS: tuple[str, ...] = get_args(Agg)

_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Span = tuple[datetime, datetime]


def _floor_hour(when: datetime) -> datetime:
    return _EPOCH + (when - _EPOCH) // _HOUR * _HOUR


def _ceil_hour(when: datetime) -> datetime:
    floor = _floor_hour(when)
    return floor if floor == when else floor + _HOUR


@dataclass
class _Plan:
    """Which documents answer a window: minutes at the edges, hours (or days) between."""

    minutes: list[Span]  # read minute documents starting in these spans
    whole: list[Span]  # whole hours: hour or day documents starting here count
    coarse: list[Span]  # read hour/day documents starting here (``whole`` plus edge hours)

    def add(self, window: Window) -> None:
        start, end = window.start, window.end
        if start == end:
            return
        first, last = _ceil_hour(start), _floor_hour(end)
        if first > last:  # inside one hour: no hour starts in it
            _append(self.minutes, (start, end))
            return
        _append(self.minutes, (start, first))
        _append(self.whole, (first, last))
        # The hour at ``last`` (if the window ends inside it) is read too: its document
        # says whether its minutes are still stored or were compacted into it.
        _append(self.coarse, (first, end))
        _append(self.minutes, (last, end))


def _append(spans: list[Span], span: Span) -> None:
    if span[0] >= span[1]:
        return
    if spans and spans[-1][1] == span[0]:
        spans[-1] = (spans[-1][0], span[1])
    else:
        spans.append(span)


def _inside(when: datetime, spans: list[Span]) -> bool:
    return any(start <= when < end for start, end in spans)


@dataclass(frozen=True)
class Window:
    """Whole UTC minutes ``[start, end)``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        object.__setattr__(self, "start", as_utc(self.start))
        object.__setattr__(self, "end", as_utc(self.end))
        for bound in (self.start, self.end):
            if bound != floor_minute(bound):
                raise ValueError(f"window bound {bound.isoformat()} is not a whole minute")
        if self.end < self.start:
            raise ValueError("window ends before it starts")

    @classmethod
    def last(cls, now: datetime, span: timedelta) -> Window:
        """Return the ``span`` of completed minutes before ``now``."""
        end = floor_minute(now)
        return cls(end - span, end)

    @classmethod
    def utc_day(cls, when: datetime) -> Window:
        """Return the UTC calendar day containing ``when``."""
        start = floor_minute(when).replace(hour=0, minute=0)
        return cls(start, start + _DAY)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def __contains__(self, when: object) -> bool:
        return isinstance(when, datetime) and self.start <= when < self.end

    def split(self, step: timedelta) -> list[Window]:
        """Return consecutive windows of ``step`` covering this one (the last may be short)."""
        if step <= timedelta(0) or step % _MINUTE:
            raise ValueError("step must be a positive whole number of minutes")
        parts, start = [], self.start
        while start < self.end:
            parts.append(Window(start, min(start + step, self.end)))
            start += step
        return parts


class KpiQuery:
    """Read KPIs for a metric, label filter and window. ``reads`` counts documents read."""

    def __init__(self, settings: Settings, client: firestore.Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self.reads = 0

    # Public API ---------------------------------------------------------------------------

    def aggregate(
        self,
        metric: str,
        agg: str,
        window: Window,
        labels: Mapping[str, str] | None = None,
        q: float | None = None,
    ) -> float | None:
        """Return ``agg`` of ``metric`` over ``window``, or None when there is no data.

        Raises ``ValueError`` for an unknown metric, label or aggregation, a quantile
        without ``q`` in 0..1, or a quantile of a metric that keeps no sketch.
        """
        self._check(metric, agg, labels, q)
        if agg == "distinct":
            return self._distinct(metric, window)
        return _reduce(self._fetch(metric, window, labels), agg, window, q)

    def aggregate_by(
        self,
        metric: str,
        agg: str,
        window: Window,
        by: str,
        labels: Mapping[str, str] | None = None,
        q: float | None = None,
    ) -> dict[str, float | None]:
        """Return ``agg`` per value of label ``by`` (only values seen in the window)."""
        self._check(metric, agg, labels, q)
        if by not in get_metric(metric).labels:
            raise ValueError(f"metric {metric!r} has no label {by!r}")
        if agg == "distinct":
            raise ValueError("distinct counts are per metric and day, not per label")
        groups: dict[str, list[Rollup]] = {}
        for rollup in self._fetch(metric, window, labels):
            groups.setdefault(dict(rollup.labels).get(by, ""), []).append(rollup)
        return {value: _reduce(group, agg, window, q) for value, group in sorted(groups.items())}

    def series(
        self,
        metric: str,
        agg: str,
        window: Window,
        step: timedelta,
        labels: Mapping[str, str] | None = None,
        q: float | None = None,
    ) -> list[tuple[datetime, float | None]]:
        """Return ``agg`` for each ``step`` of ``window``, as (bucket start, value)."""
        self._check(metric, agg, labels, q)
        buckets = window.split(step)
        if agg == "distinct":
            return [(part.start, self._distinct(metric, part)) for part in buckets]
        grouped: list[list[Rollup]] = [[] for _ in buckets]
        for rollup in self._fetch(metric, window, labels, buckets):
            grouped[int((rollup.start - window.start) // step)].append(rollup)
        return [
            (part.start, _reduce(group, agg, part, q))
            for part, group in zip(buckets, grouped, strict=True)
        ]

    def ratio(
        self,
        numerator: str,
        denominator: str,
        window: Window,
        labels: Mapping[str, str] | None = None,
        *,
        numerator_agg: str = "sum",
        denominator_agg: str = "sum",
        denominator_labels: Mapping[str, str] | None = None,
    ) -> float | None:
        """Return numerator over denominator (errors / requests); None if either is empty
        or the denominator is zero."""
        top = self.aggregate(numerator, numerator_agg, window, labels)
        bottom = self.aggregate(
            denominator,
            denominator_agg,
            window,
            labels if denominator_labels is None else denominator_labels,
        )
        if bottom is None or bottom == 0:
            return None
        return (top or 0.0) / bottom

    # Reading ------------------------------------------------------------------------------

    def _check(
        self, metric: str, agg: str, labels: Mapping[str, str] | None, q: float | None
    ) -> None:
        try:
            definition = get_metric(metric)
        except KeyError as error:
            raise ValueError(error.args[0]) from None
        if agg not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {agg!r}; use one of {', '.join(AGGREGATIONS)}")
        unknown = sorted(set(labels or {}) - set(definition.labels))
        if unknown:
            raise ValueError(f"metric {metric!r} has no label {', '.join(unknown)}")
        if agg == "quantile":
            if q is None or not 0 <= q <= 1:
                raise ValueError("a quantile needs q between 0 and 1")
            if definition.kind != "distribution":
                raise ValueError(
                    f"metric {metric!r} is a {definition.kind}; quantiles need a distribution"
                )

    def _db(self) -> firestore.Client:
        if self._client is None:
            from monitoring.store import firestore_client

            self._client = firestore_client(self._settings)
        return self._client

    def _fetch(
        self,
        metric: str,
        window: Window,
        labels: Mapping[str, str] | None,
        buckets: list[Window] | None = None,
    ) -> list[Rollup]:
        """Return the rollups that make up ``window`` (each bucket planned on its own, so
        no hour document straddles two buckets), filtered by ``labels``."""
        plan = _Plan([], [], [])
        for part in buckets if buckets is not None else [window]:
            plan.add(part)
        wanted = dict(labels or {})

        def keep(rollup: Rollup) -> bool:
            have = dict(rollup.labels)
            return all(have.get(name) == value for name, value in wanted.items())

        if not plan.minutes and not plan.coarse:
            return []
        if not plan.whole:
            # No whole hour to skip (a short window): one query reads the minutes and the
            # edge hours together, the same documents as one query per resolution.
            spans = plan.minutes + plan.coarse
            everything = [
                r
                for r in self._read(metric, [], min(a for a, _ in spans), max(b for _, b in spans))
                if keep(r)
            ]
            minutes = [r for r in everything if r.res == "minute"]
            coarse = [r for r in everything if r.res != "minute" and _inside(r.start, plan.coarse)]
        else:
            minutes = [
                r
                for start, end in plan.minutes
                for r in self._read(metric, ["minute"], start, end)
                if keep(r)
            ]
            # One query over the hull: the gaps between coarse spans hold no hour starts.
            coarse = [
                r
                for r in self._read(metric, ["hour", "day"], plan.coarse[0][0], plan.coarse[-1][1])
                if keep(r) and _inside(r.start, plan.coarse)
            ]
        chosen: list[Rollup] = []
        replaced: dict[LabelKey, list[Span]] = {}
        for rollup in coarse:
            if _inside(rollup.start, plan.whole):
                chosen.append(rollup)
            elif rollup.res == "hour" and rollup.has_minutes:
                continue  # an edge hour whose minutes are all stored: they answer
            else:
                # An edge hour (or day) whose minutes were compacted into it: it counts
                # wholly, and any minute left of it must not count twice.
                chosen.append(rollup)
                replaced.setdefault(rollup.labels, []).append((rollup.start, rollup.end))
        chosen.extend(r for r in minutes if not _inside(r.start, replaced.get(r.labels, [])))
        return chosen

    def _read(self, metric: str, res: list[str], start: datetime, end: datetime) -> list[Rollup]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._db()
            .collection(Collections.ROLLUPS)
            .where(filter=FieldFilter("metric", "==", metric))
            .where(filter=FieldFilter("start", ">=", start))
            .where(filter=FieldFilter("start", "<", end))
        )
        if res:  # no resolution: every document starting in [start, end)
            query = query.where(
                filter=FieldFilter("res", "==", res[0])
                if len(res) == 1
                else FieldFilter("res", "in", res)
            )
        rollups = []
        for snap in query.stream():
            self.reads += 1
            rollups.append(Rollup.from_doc(snap.to_dict() or {}))
        return rollups

    def _distinct(self, metric: str, window: Window) -> float | None:
        """Distinct ids over the UTC days the window touches (days are the unit of storage)."""
        day = window.start.replace(hour=0, minute=0)
        days = []
        while day < window.end:
            days.append(day.strftime("%Y%m%d"))
            day += _DAY
        parents = [
            self._db().collection(Collections.DISTINCT).document(distinct_doc_id(metric, d))
            for d in days
        ]
        reduced = 0
        seen: set[str] = set()
        for parent in parents:
            stored = parent.get()
            self.reads += 1
            data = stored.to_dict() or {}
            if "reduced_at" in data:
                # Compaction kept only the day's count; days are summed, not unioned.
                reduced += int(data.get("count", 0))
            elif not stored.exists:
                continue
            elif len(parents) == 1:
                result = parent.collection("ids").count().get()
                count = int(_first_value(result))
                # An aggregation is billed as one read per 1,000 index entries.
                self.reads += max(1, math.ceil(count / 1000))
                return float(count) if count else None
            else:
                for ref in parent.collection("ids").list_documents():
                    self.reads += 1
                    seen.add(ref.id)
        total = reduced + len(seen)
        return float(total) if total else None


def _first_value(result: Any) -> float:
    for row in result:
        for item in row if isinstance(row, list) else [row]:
            return float(item.value)
    return 0.0


def _reduce(rollups: Iterable[Rollup], agg: str, window: Window, q: float | None) -> float | None:
    rollups = [r for r in rollups if r.count]
    if not rollups:
        return None
    count = sum(r.count for r in rollups)
    total = math.fsum(r.sum for r in rollups)
    if agg == "count":
        return float(count)
    if agg == "sum":
        return total
    if agg == "avg":
        return total / count
    if agg == "min":
        return min(r.min for r in rollups)
    if agg == "max":
        return max(r.max for r in rollups)
    if agg == "rate":
        return total / window.seconds if window.seconds else None
    if agg == "last":
        latest = max(
            (r for r in rollups if r.last_at is not None and r.last is not None),
            key=lambda r: r.last_at,  # type: ignore[arg-type,return-value]
            default=None,
        )
        return None if latest is None else latest.last
    if agg == "quantile":
        assert q is not None
        merged = None
        for rollup in rollups:
            sketch = rollup.get_sketch()
            if sketch is None:
                continue
            if merged is None:
                merged = rollup.empty_like(rollup.res, rollup.start)
            merged.merge(rollup)
        if merged is None or merged.get_sketch() is None:
            return None
        value = nearest_rank(merged.get_sketch(), q)
        if value is None:
            return None
        # The sketch answers a bucket's representative value; never outside what was seen.
        return float(min(max(value, merged.min), merged.max))
    raise ValueError(f"unknown aggregation {agg!r}")
