"""`firewatch kpis show`: a table with a sparkline, or JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from monitoring.cli import app
from monitoring.clock import floor_minute
from monitoring.kpi.cli import sparkline
from monitoring.kpi.recorder import Recorder
from tests.conftest import PROJECT


@pytest.fixture
def cli_env(recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    monkeypatch.setenv("FIREWATCH_PROJECT_ID", PROJECT)
    # The command reads the wall clock; put the data in the minutes just completed.
    last = floor_minute(datetime.now(UTC)) - timedelta(minutes=1)
    recorder.record("sessions", 4, at=last)
    recorder.record("sessions", 6, at=last - timedelta(minutes=2))
    recorder.flush()
    return recorder


def test_sparkline_scales_between_low_and_high_and_leaves_gaps() -> None:
    assert sparkline([0, 5, None, 10]) == "▁▅ █"
    assert sparkline([3, 3]) == "▁▁"
    assert sparkline([None]) == " "


def test_show_json_gives_the_total_and_the_series(cli_env: Recorder) -> None:
    result = CliRunner().invoke(app, ["kpis", "show", "sessions", "--window", "15m", "--json"])

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["value"] == 10
    assert body["agg"] == "sum"
    # Robust to the wall clock passing a minute boundary during the test.
    assert [p["value"] for p in body["series"] if p["value"] is not None] == [6, 4]


def test_show_prints_a_table_and_a_sparkline(cli_env: Recorder) -> None:
    result = CliRunner().invoke(
        app, ["kpis", "show", "sessions", "--window", "10m", "--step", "5m"]
    )

    assert result.exit_code == 0, result.output
    assert "whole window" in result.output
    assert "(2 × 5m)" in result.output


def test_show_refuses_an_unknown_metric_with_exit_2() -> None:
    result = CliRunner().invoke(app, ["kpis", "show", "sesions"])

    assert result.exit_code == 2
    assert "unknown metric 'sesions'" in result.output
