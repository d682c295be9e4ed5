"""Careless or hostile rule and rule-test files: every problem is file:line:column, no crash."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from monitoring.alerts.rules import check_rules
from monitoring.alerts.testing import expand_values, run_rule_tests
from monitoring.errors import RuleError

RULE = "groups:\n  - name: critical\n    rules:\n      - name: x\n        condition: {}\n"


def _problems(tmp_path: Path, content: bytes) -> list[str]:
    path = tmp_path / "alerts.yaml"
    path.write_bytes(content)
    ruleset, problems = check_rules(path)
    assert ruleset is None
    return [str(problem).removeprefix(f"{path}:") for problem in problems]


def test_non_utf8_bytes_are_reported_at_their_line_and_column(tmp_path: Path) -> None:
    assert _problems(tmp_path, b"params:\n  a: \xff1\n") == [
        "2:6: not UTF-8 text: byte 0xff cannot be decoded"
    ]


def test_an_empty_file_is_refused_rather_than_switching_every_alert_off(tmp_path: Path) -> None:
    assert _problems(tmp_path, b"# nothing yet\n") == ["1:1: the rules file is empty"]


def test_a_duplicate_key_is_reported_at_the_second_occurrence(tmp_path: Path) -> None:
    text = RULE.format('"error_rate > 1%"') + '        condition: "error_rate > 2%"\n'
    assert _problems(tmp_path, text.encode()) == [
        "6:9: duplicate key 'condition': the earlier one would be ignored"
    ]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('"error_rate > 1e999"', "5:34: number 1e999 is too large"),
        ('"error_rate > 1% for 99999999999d"', "5:37: duration '99999999999d' is too long"),
        (
            '"api_response_time_ms[99999999999d] > 1"',
            "5:41: duration '99999999999d' is too long",
        ),
    ],
)
def test_huge_numbers_and_durations_are_errors_not_crashes(
    tmp_path: Path, condition: str, expected: str
) -> None:
    assert _problems(tmp_path, RULE.format(condition).encode()) == [expected]


def test_a_huge_for_field_names_the_field(tmp_path: Path) -> None:
    text = RULE.format('"error_rate > 1%"') + "        for: 99999999999999d\n"
    (problem,) = _problems(tmp_path, text.encode())
    assert problem.startswith("6:14: rules.0.for:")
    assert "too long" in problem


def test_deep_nesting_is_invalid_yaml_not_a_recursion_crash(tmp_path: Path) -> None:
    text = "params: " + "[" * 5000 + "]" * 5000 + "\n"
    assert _problems(tmp_path, text.encode()) == ["1:1: invalid YAML: nested too deeply"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "1:1: a rule test file is a mapping with rule_files, params and tests"),
        (b"- 1\n", "1:1: a rule test file is a mapping with rule_files, params and tests"),
        (b"\xfe\xff", "1:1: not UTF-8 text"),
        (b"tests: [\n", "2:1: invalid YAML: expected the node content, but found '<stream end>'"),
        (
            b"rule_files: []\ntests: []\nextra: 1\n",
            "2:8: tests: List should have at least 1 item after validation, not 0",
        ),
    ],
)
def test_a_malformed_rule_test_file_is_refused_with_its_position(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "rules_test.yaml"
    path.write_bytes(content)
    with pytest.raises(RuleError) as refused:
        run_rule_tests(path)
    assert str(refused.value).split("; ")[0] == f"{path}:{expected}"


def test_nested_aliases_are_checked_in_linear_time(tmp_path: Path) -> None:
    # Seven levels of nine aliases each: 4.8 million paths if every alias is walked again.
    levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for previous, name in zip("abcdef", "bcdefg", strict=True):
        levels.append(f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    text = "\n".join([*levels, "groups: [*g]", ""])
    began = time.perf_counter()
    problems = _problems(tmp_path, text.encode())
    assert time.perf_counter() - began < 5.0
    assert problems == [
        "7:4: groups.0: Input should be a valid dictionary or instance of GroupSpec"
    ]


def test_an_entry_that_is_not_a_mapping_names_its_section_and_index(tmp_path: Path) -> None:
    assert _problems(tmp_path, b"groups:\n  - 5\ninhibit:\n  - 7\n") == [
        "2:5: groups.0: Input should be a valid dictionary or instance of GroupSpec",
        "4:5: inhibit.0: Input should be a valid dictionary or instance of InhibitRule",
    ]


def test_a_duration_without_a_unit_is_refused_not_read_as_seconds(tmp_path: Path) -> None:
    text = RULE.format('"error_rate > 1%"') + "        for: 5\n"
    assert _problems(tmp_path, text.encode()) == [
        "6:14: rules.0.for: Value error, 5 has no unit: write e.g. 5m or 5s"
    ]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (
            '"sum(api_requests[1000000d]) > 1"',
            "5:37: window 1000000d is longer than the maximum, 400d",
        ),
        ('"sum(api_requests[401d]) > 1"', "5:37: window 401d is longer than the maximum, 400d"),
        ('"error_rate[9601h] > 1%"', "5:31: window 9601h is longer than the maximum, 400d"),
    ],
    ids=["million-days", "401d", "named-series"],
)
def test_a_window_past_400_days_is_a_load_error_not_an_overflow_each_minute(
    tmp_path: Path, condition: str, expected: str
) -> None:
    assert _problems(tmp_path, RULE.format(condition).encode()) == [expected]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('"trend(api_response_time_ms[5m], 5) > 1"', "5:53: quantile 5 is outside 0..1"),
        (
            '"trend(api_response_time_ms[5m], -0.5) > 1"',
            ("5:53: trend() expects a quantile in 0..1 as a number"),
        ),
        (
            '"trend(api_response_time_ms[5m], 0.5, 100000000) > 1"',
            "5:58: trend() looks back 1 to 28 days, not 100000000",
        ),
        (
            '"trend(api_response_time_ms[5m], 0.5, 0) > 1"',
            "5:58: trend() looks back 1 to 28 days, not 0",
        ),
        (
            '"degradation(api_response_time_ms[5m], 0.5, 1.5) > 1"',
            "5:64: degradation() looks back 1 to 28 days, not 1.5",
        ),
        ('"quantile(api_response_time_ms[5m], 1.01) > 1"', "5:56: quantile 1.01 is outside 0..1"),
    ],
    ids=["trend-q", "trend-negative-q", "trend-huge-days", "trend-zero-days", "fraction", "q"],
)
def test_trend_quantile_and_days_are_range_checked_at_load(
    tmp_path: Path, condition: str, expected: str
) -> None:
    assert _problems(tmp_path, RULE.format(condition).encode()) == [expected]


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ("{{ value|pctt }}", "6:32: annotation 'summary': No filter named 'pctt'."),
        ("{{ value is frob }}", "6:32: annotation 'summary': No test named 'frob'."),
        (
            "{{ value.__class__.__mro__ }}",
            "6:32: annotation 'summary': attribute '__class__' is internal; "
            "templates cannot read it",
        ),
        (
            "{{ labels|attr('__dict__') }}",
            "6:32: annotation 'summary': attribute '__dict__' is internal; "
            "templates cannot read it",
        ),
        (
            "{{ valeu|pct }}",
            "6:32: annotation 'summary': unknown name 'valeu'; "
            "templates see value, labels, params, rule, severity, status",
        ),
    ],
    ids=["filter", "test", "dunder", "attr-filter", "name"],
)
def test_an_annotation_is_compiled_at_load_with_the_evaluators_filters(
    tmp_path: Path, summary: str, expected: str
) -> None:
    text = RULE.format('"error_rate > 1%"') + f'        annotations: {{summary: "{summary}"}}\n'
    assert _problems(tmp_path, text.encode()) == [expected]


def test_annotations_using_the_evaluators_filters_and_names_load(tmp_path: Path) -> None:
    summary = "{{ labels._team }} {{ value|pct }} {{ value|ms }} {{ params.budget|usd }} {{ rule }}"
    path = tmp_path / "alerts.yaml"
    text = RULE.format('"error_rate > 1%"') + f'        annotations: {{summary: "{summary}"}}\n'
    path.write_text(text)
    assert check_rules(path)[1] == []


def test_a_rule_cannot_relabel_itself_or_use_labels_that_are_not_identifiers(
    tmp_path: Path,
) -> None:
    text = RULE.format('"error_rate > 1%"') + (
        "        labels:\n"
        "          alertname: y\n"
        "          severity: info\n"
        '          "": a\n'
        '          "bad label": b\n'
        '          "team\\n": c\n'
        "          team_2: ok\n"
    )
    assert _problems(tmp_path, text.encode()) == [
        "7:11: label 'alertname' cannot be set: it is the rule's name",
        "8:11: label 'severity' cannot be set: it is the group's severity",
        "9:11: label name '' is not an identifier: use letters, digits and _",
        "10:11: label name 'bad label' is not an identifier: use letters, digits and _",
        "11:11: label name 'team\\n' is not an identifier: use letters, digits and _",
    ]


def test_a_rule_test_that_cannot_run_as_written_is_refused_naming_each_place(
    tmp_path: Path,
) -> None:
    (tmp_path / "alerts.yaml").write_text(RULE.format('"error_rate > 1%"'))
    path = tmp_path / "rules_test.yaml"
    path.write_text(
        "rule_files: [alerts.yaml]\n"
        "tests:\n"
        "  - name: storm\n"
        "    start: 9999-12-31T23:00:00Z\n"
        "    input_series:\n"
        "      - {series: \"api_requests{endpoint='/a'}\", values: '1x99999999999'}\n"
        "      - {series: 'api_errors{endpoint=\"/a\", garbage}', values: '1 2'}\n"
        "    silences:\n"
        "      - {matchers: ['alertname~x'], end: 10m}\n"
        "      - {matchers: ['alertname=~(x'], start: 20m, end: 10m}\n"
        "    alert_rule_test:\n"
        "      - {eval_time: 3650d, alertname: x}\n"
    )
    with pytest.raises(RuleError) as refused:
        run_rule_tests(path)
    assert str(refused.value).split("; ") == [
        f"{path}:{problem}"
        for problem in [
            "4:12: test 'storm': start must be from 1970 to 2999",
            "6:18: test 'storm': unreadable labels \"endpoint='/a'\" in series "
            '"api_requests{endpoint=\'/a\'}": write label="value"',
            "6:57: test 'storm': values expand to more than 11,520 minutes (8 days)",
            "7:18: test 'storm': unreadable labels 'garbage' in series "
            '\'api_errors{endpoint="/a", garbage}\': write label="value"',
            "9:21: test 'storm': invalid matcher 'alertname~x': write label=value, "
            "e.g. alertname=high_p95",
            "10:21: test 'storm': matcher alertname: invalid regex "
            "(missing ), unterminated subpattern at position 0)",
            "10:56: test 'storm': a silence ends before it starts",
            "12:21: test 'storm': 3650d is past the longest test, 8d",
        ]
    ]


def test_series_values_expand_to_at_most_8_days_of_minutes() -> None:
    assert len(expand_values("1x11519")) == 11_520
    assert len(expand_values("_x11520")) == 11_520
    with pytest.raises(ValueError, match=r"^values expand to more than 11,520 minutes \(8 days\)$"):
        expand_values("1x11519 2")
