"""`firewatch maintenance run ...` against the emulators."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from monitoring.cli import app
from monitoring.config import Settings
from tests.conftest import BUCKET, PROJECT, REPO


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("FIREWATCH_PROJECT_ID", PROJECT)
    monkeypatch.setenv("FIREWATCH_ALERTS_FILE", str(REPO / "alerts.yaml"))
    monkeypatch.setenv("FIREWATCH_BACKUP__BUCKET", BUCKET)
    return CliRunner()


def test_monthly_run_without_backups_prints_the_failed_part_and_exits_1(cli: CliRunner) -> None:
    result = cli.invoke(app, ["maintenance", "run", "monthly", "--at", "2026-04-01", "--no-send"])
    assert result.exit_code == 1
    assert "Restore drill" in result.stdout
    assert "fw_reports/monthly-2026-03" in result.stdout


def test_weekly_json_is_the_stored_report(cli: CliRunner) -> None:
    result = cli.invoke(
        app, ["maintenance", "run", "weekly", "--at", "2026-03-02", "--no-send", "--json"]
    )
    body = json.loads(result.stdout)
    assert (body["id"], body["sections"][0]["key"]) == ("weekly-2026-W09", "capacity")
    assert result.exit_code == 0


def test_unknown_report_kind_is_a_usage_error(cli: CliRunner) -> None:
    result = cli.invoke(app, ["maintenance", "run", "hourly"])
    assert result.exit_code == 2
    assert "choose daily, weekly or monthly" in result.output
