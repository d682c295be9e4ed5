"""The runner: concurrency, deadlines, exceptions and how the parts make the whole."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from monitoring.config import Settings, load_settings
from monitoring.health.checks import (
    Check,
    CheckFailed,
    CheckResult,
    Outcome,
    overall_status,
    run_checks,
)
from tests.conftest import START

# Thread start-up and scheduling on a loaded two-core CI machine; the product's own margin
# (health.margin_s) is smaller, this is what the test tolerates before calling it a bug.
SLACK_S = 0.5


@pytest.fixture
def plain_settings() -> Settings:
    return load_settings(_env_file=None, FIREWATCH_PROJECT_ID="demo-firewatch-test")


@pytest.fixture
def never() -> Iterator[threading.Event]:
    """An event no probe sees set while the test runs: waiting on it is a hang."""
    event = threading.Event()
    yield event
    event.set()  # let the abandoned probe threads finish


def _hang(event: threading.Event) -> Outcome:
    event.wait(30)
    return Outcome()


def _result(status: str, critical: bool = True) -> CheckResult:
    return CheckResult(name="x", status=status, latency_ms=1, reason="", critical=critical)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([("healthy", True), ("healthy", False)], "healthy"),
        ([("healthy", True), ("degraded", True)], "degraded"),
        ([("degraded", True), ("unhealthy", True)], "unhealthy"),
        ([("healthy", True), ("unhealthy", False)], "degraded"),
        ([("degraded", False), ("unhealthy", False)], "degraded"),
        ([], "healthy"),
    ],
    ids=["all-up", "one-degraded", "critical-down", "noncritical-down", "only-noncritical", "none"],
)
def test_overall_status_follows_parts_and_criticality(parts, expected) -> None:
    assert overall_status([_result(s, c) for s, c in parts]) == expected


def test_check_that_raises_is_unhealthy_with_its_reason(plain_settings: Settings) -> None:
    def broken() -> Outcome:
        raise RuntimeError("disk on fire\nsecond line")

    report = run_checks(plain_settings, START, checks=[Check("disk", broken, 1.0)])

    assert report.status == "unhealthy"
    assert report.checks[0].reason == "RuntimeError: disk on fire"
    assert report.checked_at == START


def test_check_failed_reason_is_kept_verbatim(plain_settings: Settings) -> None:
    def refusing() -> Outcome:
        raise CheckFailed("bucket 'b' does not exist")

    report = run_checks(plain_settings, START, checks=[Check("storage", refusing, 1.0)])

    assert report.checks[0].reason == "bucket 'b' does not exist"


def test_hanging_check_costs_only_its_timeout(
    plain_settings: Settings, never: threading.Event
) -> None:
    checks = [
        Check("hangs", lambda: _hang(never), 0.3),
        Check("quick", lambda: Outcome(), 0.3),
    ]

    began = time.perf_counter()
    report = run_checks(plain_settings, START, checks=checks)
    elapsed = time.perf_counter() - began

    assert 0.3 <= elapsed < 0.3 + SLACK_S
    assert report.component("hangs").status == "unhealthy"  # type: ignore[union-attr]
    assert report.component("hangs").reason == "no answer within 0.3 s"  # type: ignore[union-attr]
    assert report.component("quick").status == "healthy"  # type: ignore[union-attr]


def test_checks_run_concurrently(plain_settings: Settings, never: threading.Event) -> None:
    # Three probes that each hang for their whole timeout: run one after another they would
    # take 0.9 s; concurrently the run takes one timeout.
    checks = [Check(f"c{i}", lambda: _hang(never), 0.3) for i in range(3)]

    began = time.perf_counter()
    run_checks(plain_settings, START, checks=checks)

    assert time.perf_counter() - began < 0.3 + SLACK_S


def test_noncritical_failure_only_degrades(plain_settings: Settings) -> None:
    def down() -> Outcome:
        raise CheckFailed("provider down")

    checks = [Check("firestore", Outcome, 1.0), Check("llm", down, 1.0, critical=False)]
    report = run_checks(plain_settings, START, checks=checks)

    assert report.status == "degraded"
    assert report.component("llm").status == "unhealthy"  # type: ignore[union-attr]


def test_public_answer_has_status_and_time_only(plain_settings: Settings) -> None:
    report = run_checks(plain_settings, START, checks=[Check("a", Outcome, 1.0)])

    assert report.public() == {"status": "healthy", "time": "2026-03-02T12:00:00+00:00"}
