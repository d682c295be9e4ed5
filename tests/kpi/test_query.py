"""Window queries: exact counts and ratios, sketch quantiles, no data instead of errors."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from monitoring.kpi.query import AGGREGATIONS, KpiQuery, Window
from monitoring.kpi.recorder import Recorder
from tests.conftest import START

API = {"endpoint": "/prompts", "method": "GET"}
OK = {**API, "status_class": "2xx"}
FAIL = {**API, "status_class": "5xx"}
TEN = Window(START, START + timedelta(minutes=10))


def test_last_window_ends_at_the_last_completed_minute() -> None:
    window = Window.last(START + timedelta(minutes=7, seconds=42), timedelta(minutes=5))

    assert window == Window(START + timedelta(minutes=2), START + timedelta(minutes=7))
    assert window.seconds == 300


def test_utc_day_covers_midnight_to_midnight() -> None:
    window = Window.utc_day(datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC))

    assert (window.start, window.end) == (
        datetime(2026, 3, 2, tzinfo=UTC),
        datetime(2026, 3, 3, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (START + timedelta(seconds=30), START + timedelta(minutes=2)),
        (START, START - timedelta(minutes=1)),
        (START.replace(tzinfo=None), START + timedelta(minutes=1)),
    ],
    ids=["partial-minute", "backwards", "naive"],
)
def test_window_refuses_bad_bounds(start: datetime, end: datetime) -> None:
    with pytest.raises(ValueError):
        Window(start, end)


@pytest.mark.parametrize("agg", [a for a in AGGREGATIONS if a != "quantile"])
def test_empty_window_gives_no_data_for_every_aggregation(kpis: KpiQuery, agg: str) -> None:
    metric = "active_users" if agg == "distinct" else "api_response_time_ms"

    assert kpis.aggregate(metric, agg, TEN) is None


def test_empty_window_gives_no_data_for_quantiles_series_and_ratios(
    recorder: Recorder, kpis: KpiQuery
) -> None:
    recorder.record("api_requests", 1, OK, at=START - timedelta(minutes=1))  # outside
    recorder.flush()

    assert kpis.aggregate("api_response_time_ms", "quantile", TEN, q=0.95) is None
    assert kpis.ratio("api_errors", "api_requests", TEN) is None
    assert kpis.aggregate_by("api_requests", "sum", TEN, by="status_class") == {}
    assert [v for _, v in kpis.series("api_requests", "rate", TEN, timedelta(minutes=5))] == [
        None,
        None,
    ]


def test_counts_sums_rates_and_ratios_are_exact(recorder: Recorder, kpis: KpiQuery) -> None:
    for minute in range(10):
        at = START + timedelta(minutes=minute, seconds=5)
        for _ in range(30):
            recorder.record("api_requests", 1, OK, at=at)
        if minute % 3 == 0:
            recorder.record("api_requests", 1, FAIL, at=at)
            recorder.record("api_errors", 1, FAIL, at=at)
    recorder.flush()

    assert kpis.aggregate("api_requests", "sum", TEN) == 304
    assert kpis.aggregate("api_requests", "count", TEN, FAIL) == 4
    assert kpis.aggregate("api_requests", "rate", TEN) == pytest.approx(304 / 600)
    assert kpis.ratio("api_errors", "api_requests", TEN) == pytest.approx(4 / 304)
    assert kpis.reads > 0


def test_quantiles_are_within_the_stated_relative_error(recorder: Recorder, kpis: KpiQuery) -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(5, 1.2) for _ in range(6000)]
    for i, value in enumerate(values):
        recorder.record("api_response_time_ms", value, API, at=START + timedelta(seconds=i // 10))
    recorder.flush()

    ordered = sorted(values)
    for q in (0.5, 0.95, 0.99):
        exact = ordered[math.ceil(q * len(ordered)) - 1]  # nearest rank
        estimate = kpis.aggregate("api_response_time_ms", "quantile", TEN, q=q)
        assert estimate is not None
        assert abs(estimate - exact) / exact <= 0.011, q


def test_aggregate_by_groups_by_one_label(recorder: Recorder, kpis: KpiQuery) -> None:
    for page, load in (("/home", 100), ("/home", 300), ("/docs", 50)):
        recorder.record("page_load_ms", load, {"page": page}, at=START)
    recorder.flush()

    assert kpis.aggregate_by("page_load_ms", "avg", TEN, by="page") == {"/docs": 50, "/home": 200}


def test_series_gives_one_value_per_step(recorder: Recorder, kpis: KpiQuery) -> None:
    recorder.record("sessions", 2, at=START + timedelta(minutes=1))
    recorder.record("sessions", 3, at=START + timedelta(minutes=6))
    recorder.record("sessions", 4, at=START + timedelta(minutes=9))
    recorder.flush()

    series = kpis.series("sessions", "sum", TEN, timedelta(minutes=5))

    assert series == [(START, 2), (START + timedelta(minutes=5), 7)]


def test_last_gives_the_latest_gauge_sample(recorder: Recorder, kpis: KpiQuery) -> None:
    recorder.record("db_connections", 12, at=START + timedelta(minutes=2))
    recorder.record("db_connections", 7, at=START + timedelta(minutes=4, seconds=59))
    recorder.record("db_connections", 30, at=START + timedelta(minutes=4, seconds=1))
    recorder.flush()

    assert kpis.aggregate("db_connections", "last", TEN) == 7
    assert kpis.aggregate("db_connections", "max", TEN) == 30


def test_ratio_with_a_zero_denominator_is_no_data(recorder: Recorder, kpis: KpiQuery) -> None:
    recorder.record("cache_hits", 0, {"cache": "prompts"}, at=START)
    recorder.flush()

    assert kpis.ratio("cache_misses", "cache_hits", TEN) is None


@pytest.mark.parametrize(
    ("metric", "agg", "q", "message"),
    [
        ("sessions", "quantile", 0.5, "quantiles need a distribution"),
        ("page_load_ms", "quantile", None, "q between 0 and 1"),
        ("page_load_ms", "median", None, "unknown aggregation"),
        ("pageloads", "sum", None, "unknown metric"),
    ],
    ids=["counter-quantile", "no-q", "bad-agg", "bad-metric"],
)
def test_bad_questions_are_refused_with_a_reason(
    kpis: KpiQuery, metric: str, agg: str, q: float | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        kpis.aggregate(metric, agg, TEN, q=q)
