"""The functions check: a dead man's switch over the heartbeats that invocations write."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.health.deadman import SCHEDULES, Schedule, assess, functions_probe, grace
from monitoring.health.heartbeat import write_heartbeat
from monitoring.health.settings import HealthSettings
from tests.conftest import REPO
from tests.health.conftest import MakeSettings

DAILY = Schedule("0 2 * * *", 1800)
HEALTH = HealthSettings()  # grace: max(120 s, 10 % of the interval) + the function's timeout


_READ_SCHEDULES = """
import json
from monitoring.localstack.devhost import load_functions
out = {}
for name, function in load_functions().items():
    endpoint = function.__firebase_endpoint__
    if endpoint.scheduleTrigger:
        out[name] = [dict(endpoint.scheduleTrigger), endpoint.timeoutSeconds]
print(json.dumps(out))
"""


def test_schedules_match_the_decorators_in_main_py() -> None:
    # In a child process: main.py declares SecretParams, which the functions SDK refuses to
    # declare twice, so loading it here would break the other tests that load it.
    done = subprocess.run(
        [sys.executable, "-c", _READ_SCHEDULES],
        capture_output=True,
        text=True,
        cwd=REPO / "functions",
        check=True,
        timeout=120,
    )
    declared = {}
    for name, (trigger, timeout) in json.loads(done.stdout.splitlines()[-1]).items():
        assert trigger.get("timeZone") in (None, "Etc/UTC", "UTC"), name
        declared[name] = Schedule(str(trigger["schedule"]), float(timeout))

    assert declared == SCHEDULES


def test_daily_grace_is_a_tenth_of_a_day_plus_the_timeout() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    assert grace(DAILY, now, HEALTH) == timedelta(hours=2.4, seconds=1800)


# The 02:00 backup of 3 March is due once 02:00 + 2.4 h + 30 min = 04:54 has passed.
@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 3, 3, 4, 53, 59, tzinfo=UTC), "healthy"),
        (datetime(2026, 3, 3, 4, 54, 0, tzinfo=UTC), "healthy"),
        (datetime(2026, 3, 3, 4, 54, 1, tzinfo=UTC), "unhealthy"),
    ],
    ids=["before-grace-ends", "at-the-boundary", "past-the-boundary"],
)
def test_missed_backup_is_caught_after_its_grace(now: datetime, expected: str) -> None:
    heartbeat = {"last_started": datetime(2026, 3, 2, 2, 0, 3, tzinfo=UTC), "last_success": True}
    watched_since = datetime(2026, 1, 1, tzinfo=UTC)

    status, facts = assess("scheduled_backup", DAILY, heartbeat, watched_since, now, HEALTH)

    assert status == expected
    if expected == "unhealthy":
        assert facts["reason"] == "missed the run due at 2026-03-03 02:00 UTC"


def test_a_heartbeat_dated_in_the_future_is_not_taken_as_on_time() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    skewed = {"last_started": datetime(2026, 3, 9, 2, 0, tzinfo=UTC), "last_success": True}
    slightly = {"last_started": now + timedelta(minutes=4), "last_success": True}

    status, facts = assess("scheduled_backup", DAILY, skewed, now, now, HEALTH)

    assert status == "degraded"
    assert facts["reason"].startswith("its last run is dated 2026-03-09 02:00 UTC, in the future")
    assert assess("scheduled_backup", DAILY, slightly, now, now, HEALTH)[0] == "healthy"


def test_failed_last_run_degrades() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    heartbeat = {
        "last_started": datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
        "last_success": False,
        "last_error": "BackupError",
    }

    status, facts = assess("scheduled_backup", DAILY, heartbeat, now, now, HEALTH)

    assert (status, facts["reason"]) == ("degraded", "last run failed (BackupError)")


def _only(make: MakeSettings, name: str) -> Settings:
    others = [n for n in SCHEDULES if n != name]
    return make(disabled=["firestore", "storage", "auth"], heartbeat_ignore=others)


def _heartbeat(settings: Settings, name: str, at: datetime, success: bool = True) -> None:
    write_heartbeat(settings, name, started=at, finished=at + timedelta(seconds=2), success=success)


def test_evaluator_that_stops_is_caught(health_settings: MakeSettings, clock: ManualClock) -> None:
    settings = _only(health_settings, "evaluate_alerts")
    _heartbeat(settings, "evaluate_alerts", clock.now())

    on_time = functions_probe(settings, clock.advance(minutes=2), 2.0)
    # Per minute: due once the slot + 120 s grace + 55 s timeout has passed with no run.
    stopped = functions_probe(settings, clock.advance(minutes=2), 2.0)

    assert on_time.status == "healthy"
    assert on_time.reason == "1 scheduled functions on time"
    assert stopped.status == "unhealthy"
    assert stopped.reason == "evaluate_alerts missed the run due at 2026-03-02 12:01 UTC"
    assert stopped.details["evaluate_alerts"]["last_started"] == "2026-03-02T12:00:00+00:00"  # type: ignore[index]


def test_backup_that_never_runs_is_unhealthy_after_its_first_slot(
    health_settings: MakeSettings, clock: ManualClock
) -> None:
    settings = _only(health_settings, "scheduled_backup")

    first_look = functions_probe(settings, clock.now(), 2.0)
    next_day = functions_probe(settings, clock.advance(hours=17), 2.0)  # 05:00 next day

    assert first_look.status == "healthy"
    assert first_look.details["scheduled_backup"]["reason"] == "no run expected yet"  # type: ignore[index]
    assert next_day.status == "unhealthy"
    assert next_day.reason == "scheduled_backup never ran; a run was due at 2026-03-03 02:00 UTC"


def test_backup_that_ran_keeps_the_check_healthy(
    health_settings: MakeSettings, clock: ManualClock
) -> None:
    settings = _only(health_settings, "scheduled_backup")
    functions_probe(settings, clock.now(), 2.0)
    clock.set(datetime(2026, 3, 3, 2, 0, 5, tzinfo=UTC))
    _heartbeat(settings, "scheduled_backup", clock.now())

    assert functions_probe(settings, clock.advance(hours=20), 2.0).status == "healthy"


def test_every_scheduled_function_is_watched_by_default(
    health_settings: MakeSettings, clock: ManualClock
) -> None:
    settings = health_settings(disabled=["firestore", "storage", "auth"])

    outcome = functions_probe(settings, clock.now(), 2.0)

    assert sorted(outcome.details or {}) == sorted(SCHEDULES)
