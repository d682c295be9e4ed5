"""`firewatch health` and scripts/health_check.sh, as an operator and a deploy script use them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest
from typer.testing import CliRunner

from monitoring.cli import app
from monitoring.config import Settings
from monitoring.localstack.catchers import HttpReceiver, Reply
from tests.conftest import BUCKET, REPO

SCRIPT = REPO / "scripts" / "health_check.sh"


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, receiver: HttpReceiver) -> None:
    monkeypatch.setenv("FIREWATCH_PROJECT_ID", settings.project_id)
    monkeypatch.setenv("FIREWATCH_BACKUP__BUCKET", BUCKET)
    monkeypatch.setenv("FIREWATCH_HEALTH__DISABLED", '["auth", "functions"]')
    monkeypatch.setenv("FIREWATCH_HEALTH__DEGRADED_AFTER_MS", "8000")
    monkeypatch.setenv("FIREWATCH_HEALTH__TIMEOUT_S", "10")
    endpoints = [{"name": "api", "url": f"{receiver.url}/api/ping"}]
    monkeypatch.setenv("FIREWATCH_HEALTH__ENDPOINTS", json.dumps(endpoints))
    monkeypatch.chdir(REPO / "tests")  # no stray .env in the working directory


def test_cli_shows_every_check_in_a_table(cli_env: None, receiver: HttpReceiver) -> None:
    result = CliRunner().invoke(app, ["health"])

    assert result.exit_code == 0, result.output
    for name in ("firestore", "storage", "api"):
        assert name in result.output
    assert "overall: healthy" in result.output


def test_cli_exits_1_when_unhealthy_and_prints_json(cli_env: None, receiver: HttpReceiver) -> None:
    receiver.script("/api/ping", Reply(503))

    result = CliRunner().invoke(app, ["health", "--json"])

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["status"] == "unhealthy"
    assert {c["name"]: c["reason"] for c in report["checks"]}["api"] == "answered 503, expected 200"


def test_cli_only_runs_the_named_checks(cli_env: None, receiver: HttpReceiver) -> None:
    result = CliRunner().invoke(app, ["health", "--only", "api", "--json"])

    assert [c["name"] for c in json.loads(result.stdout)["checks"]] == ["api"]


def test_cli_refuses_an_unknown_check_name(cli_env: None) -> None:
    result = CliRunner().invoke(app, ["health", "--only", "nosuch"])

    assert result.exit_code == 2
    assert "no check named nosuch" in result.output


def _script(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), url],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **env},
        check=False,
    )


def test_script_exits_0_with_a_summary_when_healthy(receiver: HttpReceiver) -> None:
    receiver.script("/health_check", Reply(200, {"status": "degraded", "time": "t"}))

    done = _script(f"{receiver.url}/health_check")

    assert done.returncode == 0
    assert done.stdout.startswith("health_check: degraded (HTTP 200, ")
    assert done.stdout.count("\n") == 1


def test_script_exits_1_on_503_and_names_failing_checks(receiver: HttpReceiver) -> None:
    body = {
        "status": "unhealthy",
        "checks": [{"name": "api", "status": "unhealthy"}, {"name": "db", "status": "healthy"}],
    }
    receiver.script("/health_check", Reply(503, json.dumps(body, separators=(",", ":"))))

    done = _script(f"{receiver.url}/health_check", FIREWATCH_API_KEY="k-123")

    assert done.returncode == 1
    assert "health_check: unhealthy (HTTP 503" in done.stdout
    assert done.stdout.rstrip().endswith("; unhealthy: api")
    assert receiver.requests("/health_check")[0].header("X-API-Key") == "k-123"


def test_script_gives_up_on_a_hanging_endpoint_after_its_timeout(receiver: HttpReceiver) -> None:
    receiver.script("/health_check", Reply(hang=True))

    began = time.perf_counter()
    done = _script(f"{receiver.url}/health_check", HEALTH_CHECK_TIMEOUT="1")

    assert time.perf_counter() - began < 5
    assert done.returncode == 1
    assert done.stdout.startswith("health_check: no answer within 1 s")


def test_script_retries_an_instance_that_is_still_starting(receiver: HttpReceiver) -> None:
    receiver.script("/health_check", Reply(503), Reply(200, {"status": "healthy", "time": "t"}))

    done = _script(
        f"{receiver.url}/health_check", HEALTH_CHECK_ATTEMPTS="2", HEALTH_CHECK_RETRY_DELAY="0"
    )

    assert done.returncode == 0
    # status 0 marks a hung request of an earlier test, recorded when it was released
    answered = [r.status for r in receiver.requests("/health_check") if r.status]
    assert answered == [503, 200]


def test_script_without_url_is_a_usage_error() -> None:
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, check=False)

    assert done.returncode == 2
    assert "usage:" in done.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_script_passes_shellcheck() -> None:
    done = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stdout
