"""The local stack: emulator discovery, the scheduler and the dev host."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitoring.clock import ManualClock
from monitoring.errors import EmulatorError
from monitoring.localstack import emulators
from monitoring.localstack.devhost import DevHost, load_functions
from monitoring.localstack.scheduler import ScheduledJob, Scheduler, cron_expression
from tests.conftest import REPO


@pytest.fixture(scope="module")
def functions() -> dict:
    return load_functions()


def test_missing_java_gives_install_paragraph_not_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EmulatorError) as raised:
        emulators.FirestoreEmulator("demo-x").start()
    message = str(raised.value)
    assert "Java was not found" in message
    assert "apt-get install -y default-jre-headless" in message


def test_emulator_jar_env_pointing_nowhere_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv(emulators.JAR_ENV, str(tmp_path / "missing.jar"))
    with pytest.raises(
        EmulatorError, match=r"FIREWATCH_FIRESTORE_EMULATOR_JAR points at .*missing\.jar"
    ):
        emulators.find_firestore_emulator()


def test_cron_expression_accepts_app_engine_every_syntax() -> None:
    assert cron_expression("every 5 minutes") == "*/5 * * * *"
    assert cron_expression("every 2 hours") == "0 */2 * * *"
    with pytest.raises(ValueError, match="neither cron"):
        cron_expression("sometimes")


def test_scheduler_reads_schedules_from_sdk_metadata(functions: dict) -> None:
    host = DevHost(
        functions, stack=None, clock=ManualClock(datetime(2026, 3, 1, 1, 59, tzinfo=UTC))
    )
    jobs = {job.name: job for job in host.jobs}
    assert jobs["scheduled_backup"].schedule == "0 2 * * *"
    assert jobs["scheduled_backup"].timezone == "Etc/UTC"
    assert jobs["scheduled_backup"].next_run == datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    assert jobs["evaluate_alerts"].next_run == datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    assert "health_check" not in jobs


def test_scheduler_fires_at_the_boundary_not_before() -> None:
    clock = ManualClock(datetime(2026, 3, 1, 1, 58, 30, tzinfo=UTC))
    fired: list[datetime] = []
    job = ScheduledJob("backup", "0 2 * * *", "Etc/UTC", run=fired.append)
    scheduler = Scheduler([job], clock)

    clock.set(datetime(2026, 3, 1, 1, 59, 59, tzinfo=UTC))
    assert scheduler.tick() == []
    clock.set(datetime(2026, 3, 1, 2, 0, tzinfo=UTC))
    assert scheduler.tick() == ["backup"]
    assert fired == [datetime(2026, 3, 1, 2, 0, tzinfo=UTC)]
    clock.advance(minutes=1)
    assert scheduler.tick() == []
    assert job.next_run == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def test_scheduler_fires_a_missed_slot_once() -> None:
    clock = ManualClock(datetime(2026, 3, 1, 0, 0, 30, tzinfo=UTC))
    fired: list[datetime] = []
    scheduler = Scheduler([ScheduledJob("tick", "* * * * *", "UTC", run=fired.append)], clock)
    clock.advance(timedelta(minutes=10))
    scheduler.tick()
    assert fired == [datetime(2026, 3, 1, 0, 1, tzinfo=UTC)]


def test_scheduler_honours_a_declared_time_zone_across_dst() -> None:
    # 02:30 Paris on the day clocks go forward (2026-03-29) does not exist; croniter moves on.
    clock = ManualClock(datetime(2026, 3, 27, 12, 0, tzinfo=UTC))
    job = ScheduledJob("paris", "0 9 * * *", "Europe/Paris", run=lambda _: None)
    Scheduler([job], clock)
    assert job.next_run == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)  # 09:00 CET = 08:00 UTC
    assert job.following(datetime(2026, 3, 28, 9, 0, tzinfo=UTC)) == datetime(
        2026, 3, 29, 7, 0, tzinfo=UTC
    )


def test_dev_host_serves_http_functions_at_their_names(
    functions: dict, settings, monkeypatch
) -> None:
    monkeypatch.setenv("FIREWATCH_PROJECT_ID", settings.project_id)
    from monitoring.config import cached_settings

    cached_settings.cache_clear()
    host = DevHost(functions, stack=None)
    client = host.app.test_client()
    reply = client.get("/health_check")
    # Which status depends on what this machine can reach (Auth has no emulator here); the
    # point is that the dev host routed the request to main.py's function.
    expected_code = {"healthy": 200, "degraded": 200, "unhealthy": 503}
    assert reply.status_code == expected_code[reply.get_json()["status"]]
    assert client.get("/no_such_function").status_code == 404
    assert host.history[-1].name == "health_check"
    cached_settings.cache_clear()


def test_dev_host_run_endpoint_refuses_unknown_function(functions: dict) -> None:
    host = DevHost(functions, stack=None)
    reply = host.app.test_client().post("/__/run/not_a_job")
    assert reply.status_code == 404
    assert "evaluate_alerts" in reply.get_json()["scheduled"]


def test_the_emulator_stops_when_its_parent_is_killed() -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import sys, time\n"
        "from monitoring.localstack.emulators import FirestoreEmulator\n"
        "emulator = FirestoreEmulator('demo-orphan').start()\n"
        "print(emulator._process.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO / "functions"
    )
    assert parent.stdout is not None
    java_pid = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)  # no cleanup code of ours can run
    parent.wait(timeout=10)

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(java_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)  # waiting for the kernel to deliver the signal, not passing test time
    else:
        os.kill(java_pid, signal.SIGKILL)
        pytest.fail("the emulator outlived its killed parent")


def test_the_inbox_lists_mail_and_webhooks_in_the_order_they_arrived(functions: dict) -> None:
    from datetime import UTC, datetime

    host = DevHost(functions, stack=None)

    def at(minute: int) -> datetime:
        return datetime(2026, 3, 2, 12, minute, tzinfo=UTC)

    mails = [
        {"from": "fw", "to": ["a"], "subject": s, "received_at": at(m), "text": ""}
        for s, m in (("first mail", 1), ("third mail", 3))
    ]
    hooks = [{"path": "/slack/second", "received_at": at(2), "body": "{}"}]
    host.inbox = lambda: {"mail": mails, "webhooks": hooks}  # type: ignore[method-assign]

    page = host.app.test_client().get("/__/inbox").get_data(as_text=True)

    order = [page.index(text) for text in ("first mail", "/slack/second", "third mail")]
    assert order == sorted(order)
