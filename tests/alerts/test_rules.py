"""Loading alerts.yaml: the shipped rules, and every problem reported with its position."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitoring.alerts.rules import check_rules, load_rules
from monitoring.config import Settings, load_settings
from monitoring.errors import RuleError

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "alerts.yaml"

HEAD = """\
params:
  limit: 5
receivers:
  ops-mail: {kind: email, to: [ops@example.com]}
routes:
  - {receivers: [ops-mail]}
"""


@pytest.fixture
def settings() -> Settings:
    return load_settings(_env_file=None, daily_budget_usd=80)


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "alerts.yaml"
    path.write_text(HEAD + body)
    return path


def test_shipped_file_has_every_rule_the_operations_guide_asks_for(settings: Settings) -> None:
    ruleset = load_rules(SHIPPED, settings)
    conditions = {rule.name: rule.condition.text for rule in ruleset.rules}
    assert "error_rate > 0.5 for 2m" in conditions.values()
    assert "p95_response_time > 1000ms for 5m" in conditions.values()
    assert "function_memory_usage > 0.8 for 30m" in conditions.values()
    assert "daily_cost > budget * 1.2" in conditions.values()
    assert conditions["high_error_rate"] == "error_rate > 1% for 5m"
    assert conditions["daily_spend_over_150pct"] == "daily_cost > budget * 1.5"
    assert "failed_signins" in conditions["failed_signins_burst"]
    assert "backups_completed" in conditions["backup_missing"]
    assert conditions["latency_degradation"].startswith("trend(")
    assert {r.severity for r in ruleset.rules} == {"critical", "warning", "info"}
    assert ruleset.rule("slow_execute_p95").for_ == timedelta(minutes=10)
    assert ruleset.params["budget"] == 80.0  # from config, not from the file
    assert ruleset.inhibit[0].source == {"alertname": "firestore_unhealthy"}


def test_shipped_file_is_commented_for_each_rule(settings: Settings) -> None:
    lines = SHIPPED.read_text().splitlines()
    for rule in load_rules(SHIPPED, settings).rules:
        at = next(i for i, line in enumerate(lines) if line.strip() == f"- name: {rule.name}")
        assert any(line.strip().startswith("#") for line in lines[max(0, at - 6) : at]), rule.name
        assert rule.spec.annotations.get("summary"), rule.name


def test_a_valid_file_loads_with_versions_that_change_with_the_rule(
    tmp_path: Path, settings: Settings
) -> None:
    rule = "groups:\n  - name: warning\n    rules:\n      - name: r\n        condition: {c}\n"
    first = load_rules(_write(tmp_path, rule.format(c="error_rate > 1%")), settings)
    second = load_rules(_write(tmp_path, rule.format(c="error_rate > 2%")), settings)
    assert first.rules[0].version != second.rules[0].version
    assert len(first.rules[0].version) == 12


def test_every_problem_is_reported_at_once_with_file_line_and_column(
    tmp_path: Path, settings: Settings
) -> None:
    path = _write(
        tmp_path,
        """\
groups:
  - name: critical
    rules:
      - name: a
        condition: error_rat > 1
      - name: b
        condition: "error_rate > > 1"
      - name: c
        condition: error_rate > limitt
        channels: [pagerduty]
        receivers: [nobody]
      - name: a
        condition: error_rate > 1
        annotations: {summary: "{{ value "}
  - name: misc
    rules: []
inhibit:
  - source: {alertname: ghost}
    target: {alertname: a}
""",
    )
    ruleset, problems = check_rules(path, settings)
    assert ruleset is None
    found = {(p.line, p.column): p.message for p in problems}
    assert all(p.file == str(path) for p in problems)
    assert "unknown metric, series or parameter 'error_rat'" in found[(11, 20)]
    assert "unexpected '>'" in found[(13, 34)]  # inside a quoted scalar
    assert "'limitt'" in found[(15, 33)]
    assert "no receiver of kind 'pagerduty'" in found[(16, 20)]
    assert "unknown receiver 'nobody' (ops-mail)" in found[(17, 21)]
    assert "defined twice" in found[(18, 15)]
    assert "annotation 'summary'" in found[(20, 32)]
    assert "group 'misc' needs severity" in found[(21, 11)]
    assert "no rule named 'ghost'" in found[(24, 25)]
    assert len(problems) == 9


def test_load_rules_raises_one_rule_error_listing_every_problem(
    tmp_path: Path, settings: Settings
) -> None:
    path = _write(
        tmp_path,
        "groups:\n  - name: info\n    rules:\n"
        "      - {name: x, condition: 'nope > 1', colour: red}\n",
    )
    with pytest.raises(RuleError) as raised:
        load_rules(path, settings)
    assert "alerts.yaml:10:" in str(raised.value)
    assert "colour" in str(raised.value)


def test_params_can_come_from_settings_and_unknown_settings_are_errors(
    tmp_path: Path, settings: Settings
) -> None:
    body = (
        "groups:\n  - name: info\n    rules:\n      - {name: x, condition: 'daily_cost > spend'}\n"
    )
    path = tmp_path / "a.yaml"
    path.write_text("params:\n  spend: {setting: daily_budget_usd}\n" + body)
    assert load_rules(path, settings).params["spend"] == 80.0
    path.write_text("params:\n  spend: {setting: no_such_field}\n" + body)
    _, problems = check_rules(path, settings)
    assert (problems[0].line, problems[0].message) == (
        2,
        "param 'spend': no numeric setting 'no_such_field'",
    )


def test_invalid_yaml_is_reported_with_its_position(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("groups:\n  - name: [unclosed\n")
    _, problems = check_rules(path, settings)
    assert problems[0].message.startswith("invalid YAML")
    assert problems[0].line == 3
