"""`firewatch replay` and `firewatch replay-sample` as an operator runs them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitoring.cli import app
from monitoring.config import Settings
from monitoring.replay.synthetic import format_line
from tests.conftest import PROJECT
from tests.replay.conftest import ALERT_RULES, outage_log


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(ALERT_RULES)
    monkeypatch.setenv("FIREWATCH_PROJECT_ID", PROJECT)
    monkeypatch.setenv("FIREWATCH_ALERTS_FILE", str(rules))
    return rules


def test_replay_json_reports_lines_traffic_and_the_alert_timeline(
    cli_env: Path, write: Callable[..., Path]
) -> None:
    lines = [format_line("heroku", r) for r in outage_log(minutes=16, per_minute=20)]
    lines[9] = "not a log line"
    log = write("heroku", lines=lines, name="router.log")

    result = CliRunner().invoke(app, ["replay", str(log), "--dry-run", "--json"])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["format"] == "heroku"
    assert (summary["lines_read"], summary["lines_parsed"], summary["lines_rejected"]) == (
        320,
        319,
        1,
    )
    assert summary["rejected_lines"][0][0] == 10
    assert summary["peak_rpm"] == 20
    assert [(a["rule"], a["fired_at"], a["resolved_at"]) for a in summary["alerts"]] == [
        ("api_error_ratio_high", "2026-02-23T09:11:00Z", "2026-02-23T09:14:00Z")
    ]


def test_replay_prints_tables_and_what_a_dry_run_would_send(
    cli_env: Path, write: Callable[..., Path]
) -> None:
    log = write("alb", outage_log(minutes=16, per_minute=20))

    result = CliRunner().invoke(app, ["replay", str(log), "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "would send firing" in result.output
    assert "Alert timeline" in result.output
    assert "api_error_ratio_high" in result.output
    assert "2 notifications would have been sent (dry run)" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "iis"], "unknown format 'iis'"),
        (["--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
    ],
    ids=["format", "tz"],
)
def test_bad_options_are_usage_errors(
    args: list[str], message: str, write: Callable[..., Path]
) -> None:
    log = write("nginx", outage_log(minutes=1, per_minute=1))

    result = CliRunner().invoke(app, ["replay", str(log), *args])

    assert result.exit_code == 2
    assert message in result.output


def test_unrecognised_log_fails_with_one_sentence(
    cli_env: Path, write: Callable[..., Path]
) -> None:
    log = write("nginx", lines=["hello", "world"])

    result = CliRunner().invoke(app, ["replay", str(log), "--dry-run"])

    assert result.exit_code == 1
    assert "could not recognise the log format" in result.output


def test_replay_sample_writes_a_log_replay_can_read(tmp_path: Path) -> None:
    out = tmp_path / "demo.log.gz"

    result = CliRunner().invoke(
        app, ["replay-sample", str(out), "--format", "gcp", "--minutes", "3", "--per-minute", "7"]
    )

    assert result.exit_code == 0, result.output
    assert "wrote 21 gcp lines" in result.output
    assert out.read_bytes()[:2] == b"\x1f\x8b"


def test_replay_finds_the_running_dev_stack_from_its_published_environment(
    cli_env: Path,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write: Callable[..., Path],
) -> None:
    host = settings.firestore_emulator_host
    assert host is not None
    state = tmp_path / "state"
    state.mkdir()
    environment = {"FIRESTORE_EMULATOR_HOST": host, "FIREWATCH_PROJECT_ID": PROJECT}
    (state / "dev.json").write_text(
        json.dumps({"url": "http://127.0.0.1:9", "pid": 1, "environment": environment})
    )
    # Recorded by monkeypatch now, so what the command sets is undone after the test.
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST")
    monkeypatch.delenv("FIREWATCH_PROJECT_ID")
    log = write("nginx", outage_log(minutes=2, per_minute=5))

    result = CliRunner().invoke(app, ["replay", str(log), "--dry-run", "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["requests"] == 10
    assert os.environ["FIRESTORE_EMULATOR_HOST"] == host
