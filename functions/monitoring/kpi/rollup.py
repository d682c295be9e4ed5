"""Rollup documents: one per metric, label set and period (minute, hour or day).

A rollup holds ``count``, ``sum``, ``min``, ``max``, the ``last`` value with its time, and
for distributions a serialized DDSketch, so any set of rollups merges into one exactly
(sketches merge without loss beyond their stated relative accuracy). Document ids are
deterministic, ``<res>_<yyyymmddHHMM>_<metric>_<labels hash>``, so every instance that
flushes the same series-minute lands on the same document and merges into it.

The recorder merges every series-minute into its series-hour document in the same
transaction, so hours exist at write time: ``in_hour`` on a minute says its values are
already in the hour (data written before hours existed lacks it), and ``has_minutes`` on
an hour says its minute documents are all still stored beside it (compaction clears it
when it deletes them, and old-style compacted hours lack it).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

__all__ = [
    "RESOLUTIONS",
    "SKETCH_MAX",
    "SKETCH_MIN",
    "Resolution",
    "Rollup",
    "clamp_for_sketch",
    "decode_sketch",
    "doc_id",
    "encode_sketch",
    "floor_hour",
    "label_key",
    "merge_sketch",
    "nearest_rank",
    "new_sketch",
]

Resolution = Literal["minute", "hour", "day"]
RESOLUTIONS: dict[Resolution, timedelta] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}

LabelKey = tuple[tuple[str, str], ...]


def label_key(labels: dict[str, str] | None) -> LabelKey:
    return tuple(sorted(labels.items())) if labels else ()


def _labels_hash(key: LabelKey) -> str:
    text = "\x1f".join(f"{name}\x1e{value}" for name, value in key)
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


def doc_id(res: Resolution, metric: str, key: LabelKey, start: datetime) -> str:
    return f"{res}_{start:%Y%m%d%H%M}_{metric}_{_labels_hash(key)}"


# The sketch's dense store spans from its smallest to its largest key, so one value of
# 1e-300 would make every document of its series hundreds of kilobytes. Values below
# SKETCH_MIN count as 0 (absolute error under 0.001 of the unit, e.g. a microsecond when
# the unit is ms) and above SKETCH_MAX as SKETCH_MAX; that bounds a sketch to ~1,400 bins.
SKETCH_MIN = 1e-3
SKETCH_MAX = 1e12


def clamp_for_sketch(value: float) -> float:
    return 0.0 if value < SKETCH_MIN else min(value, SKETCH_MAX)


def new_sketch(relative_accuracy: float) -> Any:
    from ddsketch import DDSketch

    return DDSketch(relative_accuracy)


def encode_sketch(sketch: Any) -> bytes:
    from ddsketch.pb.proto import DDSketchProto

    proto: Any = DDSketchProto  # the library is untyped
    data: bytes = proto.to_proto(sketch).SerializeToString()
    return data


def decode_sketch(data: bytes) -> Any:
    from ddsketch.pb.ddsketch_pb2 import DDSketch as SketchMessage
    from ddsketch.pb.proto import DDSketchProto

    message = SketchMessage()
    message.ParseFromString(data)
    proto: Any = DDSketchProto
    return proto.from_proto(message)


def merge_sketch(mine: Any, theirs: Any) -> None:
    """Add ``theirs`` into ``mine``, also when they were made with different accuracies.

    DDSketch refuses to merge sketches of another gamma, and a deployment that changes
    ``kpi.relative_accuracy`` stores new minutes beside hours (and old minutes) of the old
    one: every flush into such an hour would fail. Each of their bins is added again at its
    bin's value instead, so the result is within both accuracies added.
    """
    from ddsketch.pb.proto import DDSketchProto, KeyMappingProto

    try:
        mine.merge(theirs)
        return
    except ValueError:  # raised before anything is merged: the gammas differ
        pass
    proto: Any = DDSketchProto  # the library is untyped
    # The stored form is the library's stable view of a sketch's bins (its fields are not).
    message = proto.to_proto(theirs)
    mapping: Any = KeyMappingProto.from_proto(message.mapping)  # type: ignore[no-untyped-call]
    for store, sign in ((message.positiveValues, 1.0), (message.negativeValues, -1.0)):
        for index, weight in enumerate(store.contiguousBinCounts):
            if weight > 0:
                mine.add(sign * mapping.value(store.contiguousBinIndexOffset + index), weight)
    if message.zeroCount > 0:
        mine.add(0.0, message.zeroCount)


def nearest_rank(sketch: Any, q: float) -> float | None:
    """Return the nearest-rank ``q`` quantile of ``sketch`` (None when it is empty).

    DDSketch ranks at ``q * (n - 1)``; asking it for the rank ``ceil(q * n) - 1`` instead
    gives the nearest-rank definition reports and alert thresholds use, so P95 of 20
    values is the 19th smallest, as a spreadsheet would say.
    """
    n = sketch.count
    if n <= 0:
        return None
    rank = max(0, math.ceil(q * n - 1e-9) - 1)
    value = sketch.get_quantile_value(rank / (n - 1) if n > 1 else 0.0)
    return None if value is None else float(value)


@dataclass
class Rollup:
    """The merged state of one series over one period."""

    metric: str
    labels: LabelKey
    res: Resolution
    start: datetime
    count: float = 0
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    last: float | None = None
    last_at: datetime | None = None
    sketch: Any = None  # a DDSketch, decoded lazily from ``sketch_bytes``
    sketch_bytes: bytes | None = field(default=None, repr=False)
    # Minute: its values are already merged into its hour document.
    in_hour: bool = False
    # Hour: every minute document of this hour is still stored (queries may use either).
    has_minutes: bool = False

    @property
    def end(self) -> datetime:
        return self.start + RESOLUTIONS[self.res]

    def observe(self, value: float, at: datetime, weight: float = 1) -> None:
        self.count += weight
        self.sum += value * weight
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        if self.last_at is None or at >= self.last_at:
            self.last, self.last_at = value, at
        if self.sketch is not None:
            self.sketch.add(clamp_for_sketch(value), weight)

    def get_sketch(self) -> Any:
        if self.sketch is None and self.sketch_bytes is not None:
            self.sketch = decode_sketch(self.sketch_bytes)
        return self.sketch

    def merge(self, other: Rollup) -> None:
        """Add ``other`` (same series) into this rollup."""
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if other.last_at is not None and (self.last_at is None or other.last_at >= self.last_at):
            self.last, self.last_at = other.last, other.last_at
        theirs = other.get_sketch()
        if theirs is not None:
            mine = self.get_sketch()
            if mine is None:
                self.sketch = decode_sketch(encode_sketch(theirs))
            else:
                merge_sketch(mine, theirs)
            self.sketch_bytes = None

    def to_doc(self, now: datetime) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "metric": self.metric,
            "labels": dict(self.labels),
            "res": self.res,
            "start": self.start,
            "count": self.count,
            "sum": self.sum,
            # Firestore has no infinities worth storing; an empty rollup has no min/max.
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
            "last": self.last,
            "last_at": self.last_at,
            "updated_at": now,
        }
        if self.res == "minute":
            doc["in_hour"] = self.in_hour
        elif self.res == "hour":
            doc["has_minutes"] = self.has_minutes
        sketch = self.get_sketch()
        if sketch is not None:
            doc["sketch"] = encode_sketch(sketch)
        return doc

    @classmethod
    def from_doc(cls, data: dict[str, Any]) -> Rollup:
        raw_min, raw_max = data.get("min"), data.get("max")
        return cls(
            metric=data["metric"],
            labels=label_key(data.get("labels")),
            res=data["res"],
            start=_utc(data["start"]),
            count=data.get("count", 0),
            sum=data.get("sum", 0.0),
            min=math.inf if raw_min is None else raw_min,
            max=-math.inf if raw_max is None else raw_max,
            last=data.get("last"),
            last_at=_utc(data["last_at"]) if data.get("last_at") else None,
            sketch_bytes=data.get("sketch"),
            in_hour=bool(data.get("in_hour", False)),
            has_minutes=bool(data.get("has_minutes", False)),
        )

    def empty_like(self, res: Resolution, start: datetime) -> Rollup:
        return Rollup(self.metric, self.labels, res, start)


def floor_hour(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


def _utc(value: datetime) -> datetime:
    # Firestore returns DatetimeWithNanoseconds in UTC; normalise to a plain aware datetime.
    return datetime.fromtimestamp(value.timestamp(), UTC)
