"""The query planner: hour documents for whole hours, minutes at the edges, same answers."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from monitoring.config import Settings
from monitoring.kpi.jobs import run_compaction
from monitoring.kpi.query import KpiQuery, Window, _reduce
from monitoring.kpi.recorder import Recorder
from monitoring.kpi.rollup import Rollup
from monitoring.store import Collections
from tests.conftest import START

LATENCY = "api_response_time_ms"
SERIES = [{"endpoint": "/a", "method": "GET"}, {"endpoint": "/b", "method": "POST"}]
DAY_START = START - timedelta(hours=13)  # 23:00 the day before: data crosses midnight


def _fill(recorder: Recorder, seed: int) -> None:
    """Sparse random latencies over 26 hours; quarter-ms values so sums add exactly."""
    rng = random.Random(seed)
    for minute in range(26 * 60):
        if rng.random() > 0.2:
            continue
        for _ in range(rng.randrange(1, 4)):
            labels = rng.choice(SERIES)
            value = round(rng.lognormvariate(4, 1.2) * 4) / 4
            at = DAY_START + timedelta(minutes=minute, seconds=rng.randrange(60))
            recorder.record(LATENCY, value, labels, at=at)
            recorder.record("api_requests", 1, {**labels, "status_class": "2xx"}, at=at)
    recorder.flush()


def _minutes(db: Any, metric: str) -> list[Rollup]:
    snaps = (
        db.collection(Collections.ROLLUPS)
        .where(filter=FieldFilter("metric", "==", metric))
        .where(filter=FieldFilter("res", "==", "minute"))
        .stream()
    )
    return [Rollup.from_doc(snap.to_dict()) for snap in snaps]


def _reference(
    minutes: list[Rollup],
    agg: str,
    window: Window,
    labels: dict[str, str] | None = None,
    q: float | None = None,
) -> float | None:
    """The minute-only answer: merge every minute document of the window."""
    chosen = [
        r
        for r in minutes
        if r.start in window and all(dict(r.labels).get(k) == v for k, v in (labels or {}).items())
    ]
    return _reduce(chosen, agg, window, q)


def _random_windows(rng: random.Random, count: int) -> list[Window]:
    windows = [
        Window(DAY_START, DAY_START + timedelta(hours=26)),  # everything, hour-aligned
        Window(DAY_START + timedelta(minutes=37), DAY_START + timedelta(hours=24, minutes=37)),
        Window(START + timedelta(minutes=5), START + timedelta(minutes=20)),  # inside an hour
        Window(START - timedelta(minutes=7), START + timedelta(minutes=9)),  # across one
        Window(START, START + timedelta(minutes=45)),  # starts on the hour
    ]
    for _ in range(count):
        start = DAY_START + timedelta(minutes=rng.randrange(0, 26 * 60))
        end = start + timedelta(minutes=rng.randrange(1, 26 * 60))
        windows.append(Window(start, end))
    return windows


def test_planned_answers_equal_merging_every_minute_on_random_data(
    recorder: Recorder, kpis: KpiQuery, db: Any
) -> None:
    _fill(recorder, seed=11)
    latencies, requests = _minutes(db, LATENCY), _minutes(db, "api_requests")
    rng = random.Random(5)

    for window in _random_windows(rng, 4):
        labels = rng.choice([None, SERIES[0]])
        for agg in ("count", "sum", "min", "rate", "last"):
            assert kpis.aggregate(LATENCY, agg, window, labels) == _reference(
                latencies, agg, window, labels
            ), (agg, window)
        for q in (0.5, 0.99):
            assert kpis.aggregate(LATENCY, "quantile", window, labels, q=q) == _reference(
                latencies, "quantile", window, labels, q
            ), (q, window)
        assert kpis.aggregate_by(LATENCY, "sum", window, by="endpoint") == {
            endpoint: _reference(latencies, "sum", window, {"endpoint": endpoint})
            for endpoint in sorted(
                {dict(r.labels)["endpoint"] for r in latencies if r.start in window and r.count}
            )
        }
        expected_ratio = _reference(requests, "sum", window, {"endpoint": "/a"})
        total = _reference(requests, "sum", window)
        assert kpis.ratio(
            "api_requests", "api_requests", window, {"endpoint": "/a"}, denominator_labels={}
        ) == (None if not total else (expected_ratio or 0.0) / total)


def test_a_24_hour_window_reads_hours_between_and_minutes_only_at_its_edges(
    recorder: Recorder, settings: Settings, db: Any
) -> None:
    # Data in every edge minute and in every hour between: the most a 24 h window reads.
    for minute in range(26 * 60):
        if 23 <= minute % 60 <= 37 and 0 < minute // 60 < 24:
            continue  # (the middle of whole hours: no effect on the reads, only on fill time)
        at = DAY_START + timedelta(minutes=minute)
        recorder.record(LATENCY, 10.0 + minute % 7, SERIES[0], at=at)
    recorder.flush()
    window = Window(DAY_START + timedelta(minutes=37), DAY_START + timedelta(hours=24, minutes=37))
    kpis = KpiQuery(settings)

    p95 = kpis.aggregate(LATENCY, "quantile", window, q=0.95)

    # 23 edge minutes at the start, 23 whole hours, the end hour and its 37 minutes.
    assert kpis.reads == 23 + 23 + 1 + 37
    assert p95 == _reference(_minutes(db, LATENCY), "quantile", window, q=0.95)


@pytest.mark.parametrize("step", [timedelta(hours=3), timedelta(minutes=20)])
def test_series_buckets_equal_merging_every_minute(
    recorder: Recorder, settings: Settings, db: Any, step: timedelta
) -> None:
    _fill(recorder, seed=12)
    latencies = _minutes(db, LATENCY)
    window = Window(DAY_START + timedelta(hours=1), DAY_START + timedelta(hours=25))
    kpis = KpiQuery(settings)

    points = kpis.series(LATENCY, "quantile", window, step, q=0.9)

    assert points == [
        (part.start, _reference(latencies, "quantile", part, q=0.9)) for part in window.split(step)
    ]
    if step % timedelta(hours=1) == timedelta(0):
        hours = {r.start for r in latencies if r.start in window}
        # Hour documents only: at most one per series and hour, never a minute.
        assert kpis.reads <= 2 * len({h.replace(minute=0) for h in hours})


def test_old_windows_use_hours_once_minutes_are_compacted_with_hour_precision_edges(
    recorder: Recorder, settings: Settings, kpis: KpiQuery
) -> None:
    _fill(recorder, seed=13)
    aligned = Window(DAY_START, DAY_START + timedelta(hours=26))
    ragged = Window(DAY_START + timedelta(minutes=30), START + timedelta(minutes=30))
    before = kpis.aggregate(LATENCY, "count", aligned)
    whole_hours_before = kpis.aggregate(
        LATENCY, "count", Window(DAY_START + timedelta(hours=1), START + timedelta(hours=1))
    )

    result = run_compaction(settings, START + timedelta(days=9))

    assert result.minutes_folded > 0 and result.minutes_merged == 0
    assert kpis.aggregate(LATENCY, "count", aligned) == before
    # The start edge's hour began before the window (left out); the end edge's hour began
    # inside it (counted wholly): the old window is read as 00:00 to 13:00.
    assert kpis.aggregate(LATENCY, "count", ragged) == whole_hours_before
