"""`firewatch deploy check`: error rate and P95 after a deploy against the hour before."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitoring.dashboard.cli import compare_deployment
from monitoring.kpi.recorder import Recorder


def _traffic(recorder, start, minutes, *, errors_per_minute, latency_ms) -> None:  # type: ignore[no-untyped-def]
    for minute in range(minutes):
        at = start + timedelta(minutes=minute, seconds=1)
        labels = {"endpoint": "/api/execute", "method": "POST", "status_class": "2xx"}
        for i in range(20):
            recorder.record("api_requests", 1, labels, at=at)
            recorder.record(
                "api_response_time_ms",
                latency_ms,
                {"endpoint": "/api/execute", "method": "POST"},
                at=at,
            )
            if i < errors_per_minute:
                recorder.record("api_errors", 1, labels, at=at)


@pytest.fixture
def deploy_time(clock):  # type: ignore[no-untyped-def]
    return clock.now() - timedelta(minutes=10)


def test_a_deploy_that_doubles_latency_is_worse(settings, clock, deploy_time) -> None:
    recorder = Recorder(settings, clock=clock)
    _traffic(recorder, deploy_time - timedelta(hours=1), 60, errors_per_minute=1, latency_ms=200)
    _traffic(recorder, deploy_time, 10, errors_per_minute=1, latency_ms=400)
    recorder.flush(clock.now())

    result = compare_deployment(settings, deploy_time, clock.now(), margin=0.2)

    assert result["worse"] is True
    assert result["p95_response_time_ms"]["worse"] is True  # type: ignore[index]
    assert result["p95_response_time_ms"]["after"] == pytest.approx(400, rel=0.01)  # type: ignore[index]
    assert result["error_rate"]["worse"] is False  # type: ignore[index]
    assert result["error_rate"]["before"] == pytest.approx(0.05)  # type: ignore[index]


def test_a_deploy_within_the_margin_holds(settings, clock, deploy_time) -> None:
    recorder = Recorder(settings, clock=clock)
    _traffic(recorder, deploy_time - timedelta(hours=1), 60, errors_per_minute=2, latency_ms=200)
    _traffic(recorder, deploy_time, 10, errors_per_minute=2, latency_ms=230)
    recorder.flush(clock.now())

    result = compare_deployment(settings, deploy_time, clock.now(), margin=0.2)

    assert result["worse"] is False


def test_no_baseline_is_not_a_regression(settings, clock, deploy_time) -> None:
    recorder = Recorder(settings, clock=clock)
    _traffic(recorder, deploy_time, 10, errors_per_minute=5, latency_ms=900)
    recorder.flush(clock.now())

    result = compare_deployment(settings, deploy_time, clock.now(), margin=0.2)

    assert result["worse"] is False
    assert result["error_rate"]["before"] is None  # type: ignore[index]
