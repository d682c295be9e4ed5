"""`firewatch alerts ...`: validate, rule unit tests, backtest, status and silences."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from monitoring.alerts import testing
from monitoring.alerts.backtest import backtest
from monitoring.alerts.rules import load_rules
from monitoring.alerts.silences import STORED, Silence, parse_matcher
from monitoring.alerts.source import MemorySource
from monitoring.alerts.testing import expand_values, run_rule_tests
from monitoring.cli import app
from monitoring.config import Settings, load_settings

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("FIREWATCH_PROJECT_ID", settings.project_id)
    monkeypatch.setenv("FIREWATCH_ALERTS_FILE", str(settings.alerts_file))
    return settings


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 2 _ 4", [1.0, 2.0, None, 4.0]),
        ("5x3", [5.0] * 4),
        ("0+10x3", [0.0, 10.0, 20.0, 30.0]),
        ("_x2 1", [None, None, 1.0]),
    ],
    ids=["plain", "repeat", "count-up", "gaps"],
)
def test_series_notation_expands_like_prometheus(text: str, expected: list[float | None]) -> None:
    assert expand_values(text) == expected


def test_shipped_rule_tests_pass() -> None:
    outcomes = run_rule_tests(HERE / "rules_test.yaml", load_settings(_env_file=None))
    assert [(o.name[:18], o.failures) for o in outcomes] == [
        ("a 60 % error storm", []),
        ("spend over 150 % o", []),
    ]


def test_a_failing_rule_test_says_what_differed(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        f"rule_files: [{REPO / 'alerts.yaml'}]\n"
        "tests:\n"
        "  - input_series:\n"
        "      - {series: 'db_connections', values: '10x10'}\n"
        "    alert_rule_test:\n"
        "      - eval_time: 5m\n"
        "        alertname: db_connections_high\n"
        "        exp_alerts: [{exp_labels: {severity: warning}}]\n"
    )
    code, output = _run("alerts", "test", str(path))
    assert code == 1
    assert "FAIL" in output
    assert "db_connections_high at 5m: expected an alert with labels {'severity': 'warning'}" in (
        " ".join(output.split())
    )


def test_validate_exits_0_for_the_shipped_file_and_1_with_positions(tmp_path: Path) -> None:
    code, output = _run("alerts", "validate", str(REPO / "alerts.yaml"))
    assert (code, "14 rules" in output) == (0, True)
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n  - name: info\n    rules:\n      - {name: x, condition: 'x > 1'}\n")
    code, output = _run("alerts", "validate", str(bad), "--json")
    report = json.loads(output)
    assert code == 1
    assert report["problems"][0]["line"] == 4
    assert "unknown metric, series or parameter 'x'" in report["problems"][0]["message"]


def test_backtest_counts_episodes_and_messages() -> None:
    rules = load_rules(REPO / "alerts.yaml", load_settings(_env_file=None))
    source = MemorySource()
    start = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    for minute in range(180):
        at = start + timedelta(minutes=minute)
        # Two storms: minutes 30-44 and 120-134.
        bad = 30 <= minute < 45 or 120 <= minute < 135
        source.add("api_requests", at, 100, {"endpoint": "/a"})
        source.add("api_errors", at, 80 if bad else 0, {"endpoint": "/a"})
        source.add("backups_completed", at, 1, {"kind": "firestore"})
    rows = {
        r.rule: r
        for r in backtest(
            rules, source, start, start + timedelta(hours=3), step=timedelta(minutes=1)
        )
    }
    storm = rows["api_error_storm"]
    assert (storm.episodes, storm.messages) == (2, 4)  # a firing and a resolved each
    assert 20 <= storm.minutes_firing <= 40
    assert rows["backup_missing"].episodes == 0
    assert rows["high_error_rate"].episodes == 2


def test_silence_add_list_expire_and_status(cli_env: Settings) -> None:
    code, output = _run(
        "alerts", "silence", "add", "-m", "alertname=high_error_rate", "-m", "endpoint=~/api/.*",
        "--for", "2h", "--author", "ana", "--comment", "load test", "--json",
    )  # fmt: skip
    assert code == 0, output
    silence = json.loads(output)
    assert [m["op"] for m in silence["matchers"]] == ["=", "=~"]

    code, output = _run("alerts", "silence", "list", "--json")
    assert [s["id"] for s in json.loads(output)] == [silence["id"]]

    code, output = _run("alerts", "status", "--json")
    status = json.loads(output)
    assert code == 0
    assert status["alerts"] == []
    assert [s["id"] for s in status["silences"]] == [silence["id"]]

    code, output = _run("alerts", "silence", "expire", silence["id"])
    assert code == 0
    code, output = _run("alerts", "silence", "list", "--json")
    assert json.loads(output) == []
    code, output = _run("alerts", "silence", "expire", "nope")
    assert code == 1


def test_silence_add_without_an_end_is_a_usage_error(cli_env: Settings) -> None:
    code, _ = _run("alerts", "silence", "add", "-m", "a=b", "--author", "a", "--comment", "c")
    assert code == 2


class _BrokenSource(MemorySource):
    """A source whose latency queries fail, as a store outage or a bug would."""

    def aggregate(self, metric: str, *args: Any, **kwargs: Any) -> float | None:
        if metric == "api_response_time_ms":
            raise RuntimeError("latency store unreachable")
        return super().aggregate(metric, *args, **kwargs)


def test_an_evaluation_error_fails_the_rule_test_with_its_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(testing, "MemorySource", _BrokenSource)
    path = tmp_path / "t.yaml"
    path.write_text(
        f"rule_files: [{REPO / 'alerts.yaml'}]\n"
        "tests:\n"
        "  - name: quiet latency\n"
        "    alert_rule_test:\n"
        "      - {eval_time: 3m, alertname: slow_api_p95}\n"
    )
    (outcome,) = run_rule_tests(path)
    # Once each, at the first minute, though every minute to 3m failed the same way.
    assert outcome.failures == [
        "evaluation failed at 1m: slow_api_p95: latency store unreachable",
        "evaluation failed at 1m: slow_execute_p95: latency store unreachable",
        "evaluation failed at 1m: latency_degradation: latency store unreachable",
    ]
    code, output = _run("alerts", "test", str(path))
    assert code == 1
    assert output.splitlines()[:2] == [
        "FAIL quiet latency",
        "    evaluation failed at 1m: slow_api_p95: latency store unreachable",
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--step", "0m"],
            "error: --step 0m is shorter than the evaluator's minute: give 1m or more",
        ),
        (
            ["--step", "30s"],
            "error: --step 30s is shorter than the evaluator's minute: give 1m or more",
        ),
        (
            ["--step", "2d", "--days", "1"],
            "error: --step 2d is longer than --days 1: nothing would be evaluated",
        ),
        (
            ["--step", "5"],
            "error: invalid duration '5': write a number and a unit, e.g. 5m, 90s, 2h",
        ),
    ],
    ids=["zero", "under-a-minute", "longer-than-days", "no-unit"],
)
def test_a_backtest_step_that_evaluates_nothing_exactly_is_a_usage_error(
    args: list[str], expected: str
) -> None:
    result = CliRunner().invoke(app, ["alerts", "backtest", str(REPO / "alerts.yaml"), *args])
    assert (result.exit_code, result.output.strip()) == (2, expected)


def test_backtest_refuses_a_step_longer_than_its_span() -> None:
    rules = load_rules(REPO / "alerts.yaml", load_settings(_env_file=None))
    start = datetime(2026, 3, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match=r"^the backtest step is longer than the backtest: "):
        backtest(rules, MemorySource(), start, start + timedelta(days=1), step=timedelta(days=2))


@pytest.mark.parametrize(
    ("regex", "problem"),
    [
        ("(a+)+$", "repeats a group that holds a quantifier (it can backtrack for hours)"),
        ("(a?)*x", "repeats a group that holds a quantifier (it can backtrack for hours)"),
        ("(/a|/ab)+$", "repeats a group that holds | (it can backtrack for hours)"),
        (".*.*.*.*x", "has 4 quantifiers, more than 3 (it can backtrack for hours)"),
        ("/api/.*", None),
        ("high_.*|slow_.*", None),
        ("(?:/v[0-9]+)?/api/.*", None),  # an optional group is tried once or not at all
        ("(ab){3}/.*", None),  # a fixed count does not backtrack
    ],
    ids=["nested", "nested-optional", "alternation", "four", "prefix", "branches", "opt", "fixed"],
)
def test_a_silence_regex_that_can_backtrack_for_hours_is_refused(
    regex: str, problem: str | None
) -> None:
    if problem is None:
        assert parse_matcher(f"endpoint=~{regex}").value == regex
        return
    with pytest.raises(ValidationError) as refused:
        parse_matcher(f"endpoint=~{regex}")
    assert refused.value.errors()[0]["msg"] == (
        f"Value error, matcher endpoint: regex {regex!r} {problem}"
    )


def test_silence_add_refuses_a_catastrophic_regex_as_a_usage_error() -> None:
    code, output = _run(
        "alerts", "silence", "add", "-m", "endpoint=~(a+)+$", "--for", "1h",
        "--author", "ana", "--comment", "c",
    )  # fmt: skip
    assert (code, output.strip()) == (
        2,
        "error: invalid silence: matcher endpoint: regex '(a+)+$' repeats a group "
        "that holds a quantifier (it can backtrack for hours)",
    )


def test_a_silence_stored_before_the_regex_rule_still_loads() -> None:
    stored = {
        "matchers": [{"name": "endpoint", "op": "=~", "value": "(a+)+$"}],
        "starts_at": datetime(2026, 3, 2, tzinfo=UTC),
        "ends_at": datetime(2026, 3, 3, tzinfo=UTC),
        "author": "ana",
        "comment": "old",
    }
    silence = Silence.model_validate(stored, context=STORED)
    assert silence.matches({"endpoint": "aaa"})
