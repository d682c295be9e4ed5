"""Logs a careless or hostile operator hands to `firewatch replay`: refused or counted, fast."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitoring.cli import app
from monitoring.config import Settings
from monitoring.replay.aggregate import Aggregator
from monitoring.replay.formats import FORMATS, detect_format, make_parser
from monitoring.replay.model import Malformed, ReplayInputError, Request
from monitoring.replay.synthetic import format_line
from tests.conftest import PROJECT
from tests.replay.conftest import ALERT_RULES, LOG_START, outage_log

T0 = LOG_START.timestamp() + 1


def _aggregate(lines: list[str], fmt: str) -> Aggregator:
    aggregator = Aggregator()
    aggregator.consume(lines, make_parser(fmt))
    aggregator.finish()
    return aggregator


def _flat(text: str) -> str:
    """``text`` without whitespace: Rich wraps long error lines anywhere."""
    return "".join(text.split())


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(ALERT_RULES)
    monkeypatch.setenv("FIREWATCH_PROJECT_ID", PROJECT)
    monkeypatch.setenv("FIREWATCH_ALERTS_FILE", str(rules))
    return rules


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_a_one_megabyte_line_is_rejected_in_well_under_a_second(name: str) -> None:
    # HAProxy's unanchored search once retried \S+ from every offset: 46 s for 100 KB.
    parse = make_parser(name)
    for line in ("x" * 1_000_000, "a:1 " * 250_000):
        began = time.perf_counter()
        with pytest.raises(Malformed):
            parse(line)
        assert time.perf_counter() - began < 1.0


def test_an_empty_log_says_it_is_empty() -> None:
    with pytest.raises(ReplayInputError, match="the log is empty"):
        detect_format(["", "  "])


def test_a_directory_is_a_usage_error_that_says_so(cli_env: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["replay", str(tmp_path), "--dry-run"])
    assert result.exit_code == 2
    assert "isadirectory" in _flat(result.output)


def test_a_binary_file_is_refused_as_unrecognised(cli_env: Path, tmp_path: Path) -> None:
    path = tmp_path / "core"
    path.write_bytes(bytes(range(256)) * 64)
    result = CliRunner().invoke(app, ["replay", str(path), "--dry-run"])
    assert result.exit_code == 1
    assert "couldnotrecognisethelogformat" in _flat(result.output)


def test_only_malformed_lines_with_a_format_exit_1_with_them_counted(
    cli_env: Path, tmp_path: Path
) -> None:
    path = tmp_path / "access.log"
    path.write_text("garbage\n\x00\x01\nmore garbage\n")
    result = CliRunner().invoke(app, ["replay", str(path), "-f", "nginx", "--dry-run", "--json"])
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["lines_read"], summary["lines_rejected"]) == (3, 3)


def test_a_truncated_gzip_is_an_error_naming_the_file(cli_env: Path, tmp_path: Path) -> None:
    lines = [format_line("nginx", r) for r in outage_log(minutes=5, per_minute=50)]
    whole = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "access.log.gz"
    path.write_bytes(whole[: len(whole) // 2])
    result = CliRunner().invoke(app, ["replay", str(path), "--dry-run"])
    assert result.exit_code == 1
    assert _flat(f"{path} is truncated or corrupt") in _flat(result.output)


@pytest.mark.parametrize(
    ("latency", "reason"),
    [
        ("1e999s", "latency inf ms is not between 0 and a day"),
        ("infs", "latency inf ms is not between 0 and a day"),
        ("nans", "latency nan ms is not between 0 and a day"),
        ("-5s", "latency -5,000 ms is not between 0 and a day"),
    ],
    ids=["overflow", "inf", "nan", "negative"],
)
def test_a_cloud_logging_latency_that_is_no_duration_rejects_its_line_only(
    latency: str, reason: str
) -> None:
    # 1e999s crashed the replay in the sketch, minutes after earlier rollups were written;
    # nans read as 0 ms and -5s pulled P50 below zero.
    lines = [format_line("gcp", r, n=n) for n, r in enumerate(outage_log(3, 10))]
    clean = _aggregate(lines, "gcp")
    lines[15] = lines[15].replace(json.loads(lines[15])["httpRequest"]["latency"], latency)

    aggregator = _aggregate(lines, "gcp")

    assert aggregator.stats.rejected_lines == [(16, reason)]
    assert (aggregator.stats.parsed, aggregator.requests) == (29, 29)
    assert [m.requests for m in aggregator.minutes] == [10, 9, 10]
    assert aggregator.sketch.count == 29
    assert aggregator.sketch.get_quantile_value(0.0) == clean.sketch.get_quantile_value(0.0)
    assert aggregator.sketch.get_quantile_value(0.0) > 0


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_rejects_a_latency_over_a_day(name: str) -> None:
    parse = make_parser(name)
    day_ms = 86_400_000.0

    assert parse(format_line(name, Request(T0, "GET", "/a", 200, day_ms))) == Request(
        T0, "GET", "/a", 200, day_ms
    )
    with pytest.raises(Malformed, match=r"^latency 86,400,002 ms is not between 0 and a day$"):
        parse(format_line(name, Request(T0, "GET", "/a", 200, day_ms + 2)))
