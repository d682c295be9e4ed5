"""The condition language: parsing, units, load-time errors and three-valued evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitoring.alerts.condition import EvalContext, compile_condition, parse_duration
from monitoring.alerts.source import MemorySource

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PARAMS = {"budget": 50.0}


def _eval(text: str, source: MemorySource, now: datetime = NOW) -> tuple[bool | None, float | None]:
    compiled, errors = compile_condition(text, PARAMS)
    assert not errors, errors
    assert compiled is not None
    return compiled.evaluate(EvalContext(source, now, PARAMS))


def _minutes(source: MemorySource, metric: str, values: list[float], **labels: str) -> None:
    for i, value in enumerate(values):
        source.add(metric, NOW - timedelta(minutes=len(values) - i), value, labels)


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("1000ms", 1000.0),
        ("1s", 1000.0),
        ("2m", 120_000.0),
        ("1h", 3_600_000.0),
        ("80%", 0.8),
        ("1.5%", 0.015),
        ("1KB", 1024.0),
        ("5MB", 5 * 1024.0**2),
        ("2GB", 2 * 1024.0**3),
        ("$50", 50.0),
        ("0.5", 0.5),
    ],
    ids=lambda v: str(v),
)
def test_units_normalise_to_ms_fractions_bytes_and_dollars(literal: str, expected: float) -> None:
    source = MemorySource()
    source.add("db_connections", NOW - timedelta(minutes=1), expected)
    breached, value = _eval(f"db_connections == {literal}", source)
    assert breached is True
    assert value == pytest.approx(expected)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("error_rate >= 57%", True),
        ("error_rate > 57%", False),
        ("cache_hit_rate < 95%", False),
        ("cache_hit_rate >= 95%", True),
        ("max(api_response_time_ms[5m]) >= 2.01s", True),
        ("max(api_response_time_ms[5m]) > 2.01s", False),
    ],
    ids=lambda v: str(v),
)
def test_a_value_exactly_at_the_threshold_is_compared_as_written(
    condition: str, expected: bool
) -> None:
    source = MemorySource()
    _minutes(source, "api_requests", [100], endpoint="/a")
    _minutes(source, "api_errors", [57], endpoint="/a")
    _minutes(source, "cache_hits", [95])
    _minutes(source, "cache_misses", [5])
    _minutes(source, "api_response_time_ms", [2010.0], endpoint="/a")

    assert _eval(condition, source)[0] is expected


def test_issue_conditions_compile_as_written() -> None:
    for text in [
        "error_rate > 0.5 for 2m",
        "p95_response_time > 1000ms for 5m",
        "function_memory_usage > 0.8 for 30m",
        "daily_cost > budget * 1.2",
        'quantile(api_response_time_ms{endpoint="/api/execute"}[10m], 0.95) > 1s',
        "trend(api_response_time_ms[today], 0.95) > 1.5",
        "absent(backups_completed[26h]) or sum(backups_failed[26h]) > 0",
        "rate(api_requests[10m]) > 5 and not cache_hit_rate < 50%",
        "ratio(api_errors[5m], api_requests[5m]) >= 1% or p99(api_response_time_ms) > 2s",
    ]:
        compiled, errors = compile_condition(text, PARAMS)
        assert errors == [], text
        assert compiled is not None


def test_trailing_for_is_read_from_the_condition() -> None:
    compiled, _ = compile_condition("error_rate > 0.5 for 2m", PARAMS)
    assert compiled is not None
    assert compiled.for_ == timedelta(minutes=2)


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("error_rat > 1", "unknown metric, series or parameter 'error_rat'", 1),
        ('error_rate{zone="a"} > 1', "has no label 'zone'", 1),
        ("error_rate > > 1", "unexpected '>'", 14),
        ("error_rate >", "unexpected end of condition", 13),
        ("frobnicate(api_requests) > 1", "unknown function 'frobnicate'", 1),
        ("p95(api_requests[5m]) > 1", "needs a distribution", 5),
        ("error_rate > budgett", "unknown metric, series or parameter 'budgett'", 14),
        ("quantile(api_response_time_ms, 1.5) > 1", "outside 0..1", 32),
        ('api_requests{endpoint!="/a"} > 1', "only = label filters", 14),
        ("error_rate > 1 # comment", "unexpected character '#'", 16),
    ],
    ids=["metric", "label", "token", "eof", "function", "sketch", "param", "q", "op", "char"],
)
def test_errors_name_what_was_expected_and_where(text: str, message: str, column: int) -> None:
    compiled, errors = compile_condition(text, PARAMS)
    assert compiled is None
    assert message in errors[0].message
    assert (errors[0].line, errors[0].column) == (1, column)


def test_error_rate_is_errors_over_requests_in_the_window() -> None:
    source = MemorySource()
    _minutes(source, "api_requests", [100, 100, 100, 100, 100], endpoint="/a")
    _minutes(source, "api_errors", [0, 0, 10, 20, 30], endpoint="/a")
    breached, value = _eval("error_rate > 10%", source)
    assert value == pytest.approx(60 / 500)
    assert breached is True


def test_label_filters_apply_to_every_part_of_a_named_series() -> None:
    source = MemorySource()
    _minutes(source, "api_requests", [100], endpoint="/a")
    _minutes(source, "api_errors", [50], endpoint="/a")
    _minutes(source, "api_requests", [100], endpoint="/b")
    _, value = _eval('error_rate{endpoint="/b"} > 0', source)
    assert value == 0.0


def test_no_requests_is_no_data_not_a_division_error() -> None:
    breached, value = _eval("error_rate > 0.5", MemorySource())
    assert (breached, value) == (None, None)


def test_and_or_let_a_decisive_side_win_over_no_data() -> None:
    source = MemorySource()
    _minutes(source, "db_connections", [10])
    assert _eval("db_connections > 5 or error_rate > 1", source)[0] is True
    assert _eval("db_connections > 50 and error_rate > 1", source)[0] is False
    assert _eval("db_connections > 5 and error_rate > 1", source)[0] is None
    assert _eval("not error_rate > 1", source)[0] is None


def test_daily_cost_sums_the_utc_day_so_far_against_budget_param() -> None:
    source = MemorySource()
    source.add("prompt_cost_usd", NOW.replace(hour=0, minute=5), 40.0)
    source.add("prompt_cost_usd", NOW - timedelta(minutes=3), 25.0)
    source.add("prompt_cost_usd", NOW - timedelta(days=1), 500.0)  # yesterday: not counted
    breached, value = _eval("daily_cost > budget * 1.2", source)
    assert value == 65.0
    assert breached is True


def test_p95_over_a_filtered_window_compares_in_milliseconds() -> None:
    source = MemorySource()
    for i in range(100):
        source.add(
            "api_response_time_ms",
            NOW - timedelta(minutes=1 + i % 10),
            float(i * 20),
            {"endpoint": "/api/execute", "method": "POST"},
        )
    text = 'quantile(api_response_time_ms{endpoint="/api/execute"}[10m], 0.95) > 1s'
    breached, value = _eval(text, source)
    assert value == 1880.0
    assert breached is True


def test_trend_compares_today_with_the_same_hours_of_previous_days() -> None:
    source = MemorySource()
    for day in range(8):
        latency = 300.0 if day == 0 else 100.0
        for minute in range(0, 12 * 60, 30):
            at = NOW.replace(hour=0) - timedelta(days=day) + timedelta(minutes=minute)
            source.add("api_response_time_ms", at, latency, {"endpoint": "/a", "method": "GET"})
    breached, value = _eval("trend(api_response_time_ms[today], 0.95) > 1.5", source)
    assert value == pytest.approx(3.0)
    assert breached is True


def test_absent_is_one_without_data_and_never_no_data_itself() -> None:
    source = MemorySource()
    assert _eval("absent(backups_completed[26h]) > 0", source) == (True, 1.0)
    source.add("backups_completed", NOW - timedelta(hours=3), 1.0, {"kind": "firestore"})
    assert _eval("absent(backups_completed[26h]) > 0", source) == (False, 0.0)


def test_parse_duration_rejects_a_missing_unit() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    with pytest.raises(ValueError, match="write a number and a unit"):
        parse_duration("90")


def test_a_400_day_window_loads_and_evaluates() -> None:
    source = MemorySource()
    source.add("api_requests", NOW - timedelta(days=399), 7.0, {"endpoint": "/a"})
    source.add("api_requests", NOW - timedelta(days=401), 1000.0, {"endpoint": "/a"})
    assert _eval("sum(api_requests[400d]) > 1", source) == (True, 7.0)


def test_trend_over_28_days_averages_each_of_them() -> None:
    source = MemorySource()
    for day in range(1, 30):
        # Day 29 is past the look-back: its 10 000 ms must not count.
        latency = 10_000.0 if day == 29 else 100.0 * (1 + day % 2)
        source.add("api_response_time_ms", NOW - timedelta(days=day, minutes=1), latency)
    source.add("api_response_time_ms", NOW - timedelta(minutes=1), 300.0)
    breached, value = _eval("trend(api_response_time_ms[5m], 0.5, 28) > 1.5", source)
    assert value == pytest.approx(2.0)  # 300 / 150, the mean of 14 days of 100 and 14 of 200
    assert breached is True
