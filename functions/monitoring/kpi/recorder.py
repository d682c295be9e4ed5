"""Cheap KPI capture: aggregate in memory, flush one merged rollup per series-minute.

``record()`` touches no network: it folds the event into the in-memory aggregate of its
metric, label set and minute (count, sum, min, max, last value, and a DDSketch for
distributions). ``flush()`` writes one rollup document per series-minute touched and one
per series-hour, merged into whatever other instances already wrote for them inside a Firestore
transaction, so concurrent flushes add up exactly instead of overwriting each other. The
hour documents let long windows read 24 documents a day instead of 1,440.

A flush happens when ``kpi.flush_max_series`` series are buffered, when
``kpi.flush_interval_s`` has passed since the last one, and at the end of every
invocation (``record_invocation``): Cloud Functions may freeze an idle instance, so nothing
may wait in memory for a later request.

Distinct identifiers (daily active users) go to ``fw_distinct/<metric>_<yyyymmdd>/ids``, one
document per hashed id, so a day's count is exact and re-sending an id is idempotent.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitoring.errors import InputError
from monitoring.kpi.metrics import METRICS, MetricDef, validate_labels
from monitoring.kpi.rollup import (
    SKETCH_MAX,
    SKETCH_MIN,
    LabelKey,
    Rollup,
    clamp_for_sketch,
    doc_id,
    floor_hour,
    new_sketch,
)
from monitoring.store import Collections

if TYPE_CHECKING:
    from google.cloud import firestore

    from monitoring.clock import Clock
    from monitoring.config import Settings
    from monitoring.kpi.series import SeriesCap

__all__ = [
    "RecordError",
    "Recorder",
    "distinct_doc_id",
    "get_recorder",
    "hash_id",
    "record_invocation",
    "reset_recorders",
    "track_api_performance",
    "track_auth_failure",
    "track_cache",
    "track_document",
    "track_feature",
    "track_function_performance",
    "track_gauge",
    "track_page_load",
    "track_prompt_execution",
    "track_session",
]

logger = logging.getLogger(__name__)

# A Firestore transaction may write at most 500 documents; stay well below.
_CHUNK = 200
# Ids this instance already wrote today need no second write; bounded so memory stays flat.
_SEEN_IDS_MAX = 50_000


class RecordError(InputError, ValueError):
    """An event Firewatch refuses: unknown metric or label, bad value, too many series."""


class _Agg:
    """The in-memory aggregate of one series-minute (kept minimal: this is the hot path)."""

    __slots__ = ("count", "last", "last_ts", "max", "min", "sketch", "sum")

    def __init__(self, sketch: Any) -> None:
        self.count = 0.0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.last = 0.0
        self.last_ts = -math.inf
        self.sketch = sketch

    def to_rollup(self, metric: str, key: LabelKey, minute: int) -> Rollup:
        return Rollup(
            metric=metric,
            labels=key,
            res="minute",
            start=datetime.fromtimestamp(minute * 60, UTC),
            count=self.count,
            sum=self.sum,
            min=self.min,
            max=self.max,
            last=self.last,
            last_at=datetime.fromtimestamp(self.last_ts, UTC),
            sketch=self.sketch,
        )


def hash_id(identifier: str) -> str:
    """Return the stored form of a distinct id (no raw user id is kept)."""
    return hashlib.sha256(identifier.encode()).hexdigest()[:32]


def distinct_doc_id(metric: str, day: str) -> str:
    return f"{metric}_{day}"


@dataclass
class _Series:
    metric: MetricDef
    names: tuple[str, ...]


class Recorder:
    """Aggregates events per (metric, label set, minute) and flushes them to Firestore.

    Thread-safe. ``writes`` counts the documents written so far (for benchmarks).
    """

    def __init__(
        self,
        settings: Settings,
        client: firestore.Client | None = None,
        clock: Clock | None = None,
        *,
        shared_cap: bool = True,
    ) -> None:
        """``shared_cap`` False leaves the deployment-wide label-set cap (``series``) alone:
        for a recorder of its own, such as a log replay's, whose labels are bounded already.
        """
        from monitoring.kpi.series import SeriesCap

        self._settings = settings
        self._client = client
        self._now: Callable[[], float] = (
            time.time if clock is None else (lambda: clock.now().timestamp())
        )
        self._lock = threading.Lock()
        self._series: dict[tuple[str, LabelKey, int], _Agg] = {}
        self._distinct: dict[tuple[str, str], set[str]] = {}
        self._retry: list[Rollup] = []
        self._seen_ids: set[tuple[str, str, str]] = set()
        self._known: dict[str, set[LabelKey]] = {}
        self._checked: set[tuple[str, tuple[str, ...]]] = set()
        self._last_flush = time.monotonic()
        self.writes = 0
        # Read once: attribute chains through pydantic models cost on the hot path.
        self._max_series = settings.kpi.flush_max_series
        self._interval = settings.kpi.flush_interval_s
        self._cap = settings.kpi.max_series_per_metric
        self._series_cap = SeriesCap(self._cap) if shared_cap else None
        self._accuracy = settings.kpi.relative_accuracy

    # Recording ---------------------------------------------------------------------------

    def record(
        self,
        metric: str,
        value: float = 1.0,
        labels: Mapping[str, str] | None = None,
        *,
        at: datetime | None = None,
        distinct_id: str | None = None,
    ) -> None:
        """Fold one event into its series-minute; flush if a size or time bound is reached.

        Raises ``RecordError`` (a ``ValueError`` and ``InputError``) naming the problem: an
        unknown metric or label, a non-finite or negative counter value, or a new label set
        beyond ``kpi.max_series_per_metric``. Nothing is stored for a refused event.
        """
        definition = METRICS.get(metric)
        if definition is None:
            raise RecordError(f"unknown metric {metric!r}")
        key: LabelKey = tuple(sorted(labels.items())) if labels else ()
        if (metric, names := tuple(name for name, _ in key)) not in self._checked:
            self._check_names(definition, dict(key), names)
        if not math.isfinite(value):
            raise RecordError(f"metric {metric!r}: value must be a finite number")
        if value < 0 and definition.kind == "counter":
            raise RecordError(f"metric {metric!r} is a counter and cannot go down")
        if value < 0 and definition.kind == "distribution":
            raise RecordError(f"metric {metric!r}: a {definition.unit} value cannot be negative")
        ts = at.timestamp() if at is not None else self._now()
        minute = int(ts // 60)

        with self._lock:
            known = self._known.setdefault(metric, set())
            if key not in known:
                if len(known) >= self._cap:
                    raise RecordError(
                        f"metric {metric!r} already has {len(known)} label sets; "
                        f"new label values are refused"
                    )
                for _, label_value in key:
                    if not isinstance(label_value, str):
                        raise RecordError(f"metric {metric!r}: label values must be strings")
                known.add(key)
            agg = self._series.get((metric, key, minute))
            if agg is None:
                sketch = new_sketch(self._accuracy) if definition.kind == "distribution" else None
                agg = self._series[(metric, key, minute)] = _Agg(sketch)
            agg.count += 1
            agg.sum += value
            if value < agg.min:
                agg.min = value
            if value > agg.max:
                agg.max = value
            if ts >= agg.last_ts:
                agg.last, agg.last_ts = value, ts
            if agg.sketch is not None:
                agg.sketch.add(
                    value if SKETCH_MIN <= value <= SKETCH_MAX else clamp_for_sketch(value)
                )
            if distinct_id is not None:
                day = time.strftime("%Y%m%d", time.gmtime(ts))
                self._distinct.setdefault((metric, day), set()).add(hash_id(distinct_id))
            due = (
                len(self._series) >= self._max_series
                or time.monotonic() - self._last_flush >= self._interval
            )
        if due:
            self.flush()

    def _check_names(
        self, definition: MetricDef, labels: dict[str, str], names: tuple[str, ...]
    ) -> None:
        try:
            validate_labels(definition, labels)
        except ValueError as error:
            raise RecordError(str(error)) from None
        self._checked.add((definition.name, names))

    @property
    def pending(self) -> int:
        """Series-minutes and distinct-id sets waiting for a flush."""
        with self._lock:
            return len(self._series) + len(self._distinct) + len(self._retry)

    # Flushing ----------------------------------------------------------------------------

    def flush(self, now: datetime | None = None) -> int:
        """Write every buffered series-minute (and its series-hour) and distinct id; return
        the documents written.

        Each rollup is merged into the stored one in a transaction. If a write fails, what
        was not written goes back into the buffer for the next flush and the error is
        raised.
        """
        with self._lock:
            series, self._series = self._series, {}
            distinct, self._distinct = self._distinct, {}
            retry, self._retry = self._retry, []
            self._last_flush = time.monotonic()
        rollups = retry + [agg.to_rollup(m, k, minute) for (m, k, minute), agg in series.items()]
        if not rollups and not distinct:
            return 0

        stamp = now or datetime.fromtimestamp(self._now(), UTC)
        client = self._firestore()
        written = 0
        for index in range(0, len(rollups), _CHUNK):
            chunk = rollups[index : index + _CHUNK]
            try:
                chunk_written = _merge_rollups(client, chunk, stamp, self._series_cap)
            except Exception:
                with self._lock:
                    self._retry.extend(rollups[index:])
                    # A Firestore outage must not grow memory without bound: keep the
                    # newest rollups, drop the oldest (logged below as lost data).
                    limit = self._settings.kpi.flush_max_series * 10
                    dropped = max(0, len(self._retry) - limit)
                    del self._retry[:dropped]
                    for (metric, day), ids in distinct.items():
                        self._distinct.setdefault((metric, day), set()).update(ids)
                logger.error(
                    "KPI flush failed; %d rollups kept for the next flush, %d dropped",
                    len(rollups) - index - dropped,
                    dropped,
                    exc_info=True,
                )
                raise
            written += chunk_written
        written += self._write_distinct(client, distinct, stamp)
        self.writes += written
        logger.debug("flushed %d KPI documents", written)
        return written

    def _write_distinct(
        self, client: firestore.Client, distinct: dict[tuple[str, str], set[str]], now: datetime
    ) -> int:
        batch = client.batch()
        pending = written = 0
        for (metric, day), ids in distinct.items():
            parent = client.collection(Collections.DISTINCT).document(distinct_doc_id(metric, day))
            fresh = [i for i in ids if (metric, day, i) not in self._seen_ids]
            if not fresh:
                continue
            batch.set(parent, {"metric": metric, "day": day, "updated_at": now}, merge=True)
            pending += 1
            for hashed in fresh:
                # set() of the same id twice is the same document: re-sends are idempotent.
                batch.set(parent.collection("ids").document(hashed), {"at": now})
                pending += 1
                if pending >= 400:
                    batch.commit()
                    written, pending, batch = written + pending, 0, client.batch()
        if pending:
            batch.commit()
            written += pending
        if len(self._seen_ids) > _SEEN_IDS_MAX:
            self._seen_ids.clear()
        for (metric, day), ids in distinct.items():
            self._seen_ids.update((metric, day, i) for i in ids)
        return written

    def _firestore(self) -> firestore.Client:
        if self._client is None:
            from monitoring.store import firestore_client

            self._client = firestore_client(self._settings)
        return self._client


def _hour_deltas(rollups: list[Rollup]) -> dict[str, Rollup]:
    hours: dict[str, Rollup] = {}
    for rollup in rollups:
        start = floor_hour(rollup.start)
        hour_id = doc_id("hour", rollup.metric, rollup.labels, start)
        if hour_id not in hours:
            hours[hour_id] = rollup.empty_like("hour", start)
        hours[hour_id].merge(rollup)
    return hours


def _merge_rollups(
    client: firestore.Client,
    rollups: list[Rollup],
    now: datetime,
    series: SeriesCap | None = None,
) -> int:
    """Merge ``rollups`` into their minute documents and their hour documents, in one
    transaction (every read first, then every write, as Firestore requires).

    With ``series``, a rollup of a label set its metric's ``fw_series`` list lacks is added
    to the list while there is room, and dropped (counted in ``series.refused``) once not.
    """
    from google.cloud import firestore

    collection = client.collection(Collections.ROLLUPS)
    refs = [collection.document(doc_id(r.res, r.metric, r.labels, r.start)) for r in rollups]
    # Every hour the chunk could touch is read; the deltas are rebuilt from the rollups kept.
    hour_refs = [collection.document(hour_id) for hour_id in _hour_deltas(rollups)]
    checking = sorted(
        {r.metric for r in rollups if series is not None and series.unconfirmed(r.metric, r.labels)}
    )
    series_refs = {m: client.collection(Collections.SERIES).document(m) for m in checking}
    outcome: dict[str, Any] = {}

    @firestore.transactional
    def apply(transaction: firestore.Transaction) -> None:
        # Everything is rebuilt from the snapshots on every attempt, so a retried
        # transaction never adds a delta twice.
        snaps = list(transaction.get_all(refs + hour_refs + list(series_refs.values())))
        listed = {m: set[str]() for m in checking}
        stored: dict[str, Rollup] = {}
        for snap in snaps:
            if snap.reference.parent.id == Collections.SERIES:
                listed[snap.id] = set((snap.to_dict() or {}).get("sets", []))
            elif snap.exists:
                stored[snap.id] = Rollup.from_doc(snap.to_dict() or {})

        added: dict[str, set[str]] = {m: set() for m in checking}
        pairs = [
            (ref, r)
            for ref, r in zip(refs, rollups, strict=True)
            if r.metric not in listed
            or series is None
            or series.admit(r.metric, r.labels, listed[r.metric], added[r.metric])
        ]
        hours = _hour_deltas([r for _, r in pairs])
        merged_hours: dict[str, Rollup] = {}
        for hour_id, delta in hours.items():
            current = stored.get(hour_id)
            if current is None:
                # Created at write time: its minutes are all stored beside it.
                current = delta.empty_like("hour", delta.start)
                current.has_minutes = True
            current.merge(delta)
            merged_hours[hour_id] = current
        for ref, rollup in pairs:
            current = stored.get(ref.id)
            if current is None:
                current = rollup.empty_like("minute", rollup.start)
            elif not current.in_hour:
                # A minute written before hours existed: its old values join the hour
                # now, with the new ones, so the hour stays the exact sum of its minutes.
                hour_id = doc_id("hour", rollup.metric, rollup.labels, floor_hour(rollup.start))
                merged_hours[hour_id].merge(current)
            current.merge(rollup)
            current.in_hour = True
            transaction.set(ref, current.to_doc(now))
        for hour_id, hour in merged_hours.items():
            transaction.set(collection.document(hour_id), hour.to_doc(now))
        for metric, new in added.items():
            if new:
                transaction.set(
                    series_refs[metric], {"sets": firestore.ArrayUnion(sorted(new))}, merge=True
                )
        outcome.update(
            written=len(pairs) + len(merged_hours) + sum(1 for new in added.values() if new),
            dropped=len(rollups) - len(pairs),
            confirmed={m: listed[m] | added[m] for m in checking},
        )

    apply(client.transaction(max_attempts=10))
    if series is not None:
        for metric, sets in outcome["confirmed"].items():
            series.confirmed[metric] = sets
        if outcome["dropped"]:
            series.refused += outcome["dropped"]
            logger.warning(
                "%d rollups not stored: their metric has %d label sets across the deployment",
                outcome["dropped"],
                series.cap,
            )
    written: int = outcome["written"]
    return written


# The process-wide recorder ------------------------------------------------------------------

_recorders: dict[int, tuple[Settings, Recorder]] = {}
_recorders_lock = threading.Lock()


def get_recorder(settings: Settings) -> Recorder:
    """Return this process's recorder for ``settings`` (created once, cheap afterwards)."""
    entry = _recorders.get(id(settings))
    if entry is not None and entry[0] is settings:
        return entry[1]
    with _recorders_lock:
        entry = _recorders.get(id(settings))
        if entry is None or entry[0] is not settings:
            entry = (settings, Recorder(settings))
            _recorders[id(settings)] = entry
        return entry[1]


def reset_recorders() -> None:
    """Forget every process-wide recorder (tests)."""
    with _recorders_lock:
        _recorders.clear()


# Helpers for what the app and Firewatch report ------------------------------------------


def _status_class(status_code: int) -> str:
    return f"{status_code // 100}xx"


def track_function_performance(
    settings: Settings,
    *,
    function: str,
    duration_ms: float,
    memory_mb: float | None = None,
    memory_limit_mb: float | None = None,
    success: bool = True,
    cold_start: bool = False,
    at: datetime | None = None,
    immediate: bool = True,
) -> None:
    """Record one function execution; latency is kept apart for cold and warm starts."""
    recorder = get_recorder(settings)
    cold = "true" if cold_start else "false"
    recorder.record("function_invocations", 1, {"function": function, "cold_start": cold}, at=at)
    recorder.record(
        "function_duration_ms", duration_ms, {"function": function, "cold_start": cold}, at=at
    )
    if not success:
        recorder.record("function_errors", 1, {"function": function}, at=at)
    if cold_start:
        recorder.record("cold_starts", 1, {"function": function}, at=at)
    if memory_mb is not None:
        recorder.record("function_memory_mb", memory_mb, {"function": function}, at=at)
        if memory_limit_mb:
            recorder.record(
                "function_memory_usage", memory_mb / memory_limit_mb, {"function": function}, at=at
            )
    if immediate and settings.kpi.immediate_events and duration_ms > settings.kpi.slow_execution_ms:
        from monitoring.kpi.immediate import raise_immediate

        raise_immediate(settings, "slow_execution", {"function": function}, duration_ms, at=at)


def track_api_performance(
    settings: Settings,
    *,
    endpoint: str,
    method: str,
    response_time_ms: float,
    status_code: int,
    user_id: str | None = None,
    at: datetime | None = None,
    immediate: bool = True,
) -> None:
    """Record one API response; 5xx counts as an error, 401/403 as refused."""
    recorder = get_recorder(settings)
    method = method.upper()
    labels = {"endpoint": endpoint, "method": method, "status_class": _status_class(status_code)}
    recorder.record("api_requests", 1, labels, at=at)
    recorder.record(
        "api_response_time_ms", response_time_ms, {"endpoint": endpoint, "method": method}, at=at
    )
    if status_code in (401, 403):
        recorder.record(
            "auth_refused", 1, {"endpoint": endpoint, "status": str(status_code)}, at=at
        )
    if user_id:
        recorder.record("active_users", 1, at=at, distinct_id=user_id)
    if status_code >= 500:
        recorder.record("api_errors", 1, labels, at=at)
        if immediate and settings.kpi.immediate_events:
            from monitoring.kpi.immediate import raise_immediate

            raise_immediate(
                settings,
                "server_error",
                {"endpoint": endpoint, "method": method, "status": str(status_code)},
                float(status_code),
                at=at,
            )


def track_page_load(
    settings: Settings,
    *,
    page: str,
    load_time_ms: float,
    user_id: str | None = None,
    at: datetime | None = None,
) -> None:
    recorder = get_recorder(settings)
    recorder.record("page_load_ms", load_time_ms, {"page": page}, at=at)
    if user_id:
        recorder.record("active_users", 1, at=at, distinct_id=user_id)


def track_prompt_execution(
    settings: Settings,
    *,
    model: str,
    duration_ms: float,
    tokens: int = 0,
    cost_usd: float = 0.0,
    success: bool = True,
    user_id: str | None = None,
    at: datetime | None = None,
    immediate: bool = True,
) -> None:
    """Record one prompt execution; cost per execution is ``prompt_cost_usd`` over
    ``prompt_executions``."""
    recorder = get_recorder(settings)
    status = "success" if success else "error"
    recorder.record("prompt_executions", 1, {"model": model, "status": status}, at=at)
    recorder.record("prompt_execution_ms", duration_ms, {"model": model}, at=at)
    recorder.record("prompt_tokens", tokens, {"model": model}, at=at)
    recorder.record("prompt_cost_usd", cost_usd, {"model": model}, at=at)
    if user_id:
        recorder.record("active_users", 1, at=at, distinct_id=user_id)
    if immediate and settings.kpi.immediate_events and duration_ms > settings.kpi.slow_execution_ms:
        from monitoring.kpi.immediate import raise_immediate

        raise_immediate(settings, "slow_execution", {"model": model}, duration_ms, at=at)


def track_document(
    settings: Settings,
    *,
    status: str = "success",
    processing_ms: float | None = None,
    at: datetime | None = None,
) -> None:
    recorder = get_recorder(settings)
    recorder.record("documents_processed", 1, {"status": status}, at=at)
    if processing_ms is not None:
        recorder.record("document_processing_ms", processing_ms, at=at)


def track_session(
    settings: Settings,
    *,
    duration_s: float,
    pages: int,
    user_id: str | None = None,
    at: datetime | None = None,
) -> None:
    """Record one finished session; one page only counts as a bounce."""
    recorder = get_recorder(settings)
    recorder.record("sessions", 1, at=at)
    recorder.record("session_duration_s", duration_s, at=at)
    if pages <= 1:
        recorder.record("session_bounces", 1, at=at)
    if user_id:
        recorder.record("active_users", 1, at=at, distinct_id=user_id)


def track_feature(
    settings: Settings, *, feature: str, user_id: str | None = None, at: datetime | None = None
) -> None:
    recorder = get_recorder(settings)
    recorder.record("feature_usage", 1, {"feature": feature}, at=at)
    if user_id:
        recorder.record("active_users", 1, at=at, distinct_id=user_id)


def track_cache(
    settings: Settings, *, cache: str, hits: int = 0, misses: int = 0, at: datetime | None = None
) -> None:
    """Record cache hits and misses; hit rate is ``cache_hits`` over hits plus misses."""
    recorder = get_recorder(settings)
    if hits:
        recorder.record("cache_hits", hits, {"cache": cache}, at=at)
    if misses:
        recorder.record("cache_misses", misses, {"cache": cache}, at=at)


def track_gauge(
    settings: Settings,
    metric: str,
    value: float,
    labels: Mapping[str, str] | None = None,
    *,
    at: datetime | None = None,
) -> None:
    """Record a sampled level (db_connections, storage_used_bytes, function_memory_usage)."""
    if METRICS.get(metric) is None or METRICS[metric].kind != "gauge":
        raise RecordError(f"{metric!r} is not a gauge metric")
    get_recorder(settings).record(metric, value, labels, at=at)


def track_auth_failure(settings: Settings, *, reason: str, at: datetime | None = None) -> None:
    get_recorder(settings).record("auth_failures", 1, {"reason": reason}, at=at)


def record_invocation(
    settings: Settings,
    *,
    function: str,
    duration_ms: float,
    memory_mb: float,
    success: bool,
    cold_start: bool,
    now: datetime,
) -> None:
    """Record one Firewatch function invocation and flush everything buffered.

    Firewatch's own long jobs (backups) are expected to run past the slow-execution
    threshold, so no immediate event is raised for them.
    """
    track_function_performance(
        settings,
        function=function,
        duration_ms=duration_ms,
        memory_mb=memory_mb,
        success=success,
        cold_start=cold_start,
        at=now,
        immediate=False,
    )
    get_recorder(settings).flush(now)
