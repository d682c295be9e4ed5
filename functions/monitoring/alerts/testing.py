"""Rule unit tests (``firewatch alerts test FILE``), in the spirit of Prometheus' rule tests.

A test file names the rules file and lists tests. Each test gives input series per minute
and the alerts expected to fire at given times; the rules run minute by minute through the
same evaluator and state machine as production, on an in-memory source and state store::

    rule_files: [../alerts.yaml]        # relative to this file
    params: {budget: 100}               # override params (optional)
    tests:
      - name: error rate fires after its for
        input_series:
          - series: 'api_requests{endpoint="/a"}'
            values: "100x20"            # minute 0..20; a+bxN counts up; _ is a gap
            users: 40                   # distinct users per minute (optional)
          - series: 'api_errors{endpoint="/a"}'
            values: "0x4 60x16"
        silences:                       # optional, times from the test's start
          - {matchers: ["alertname=x"], start: 0m, end: 10m}
        alert_rule_test:
          - eval_time: 8m
            alertname: high_error_rate
            exp_alerts:
              - exp_labels: {endpoint: /a}
                exp_annotations: {summary: "..."}   # optional, exact
            exp_notifications: 1        # optional: messages sent for the rule so far

Values of a counter are that minute's total; of a distribution, one observation; of a gauge,
its level.

Limits, checked when the file loads: a test spans at most 8 days (``MAX_SPAN``: a trend's
7-day baseline and the day under test), so each series expands to at most 11,520 values and
each ``eval_time`` and silence time is at most 8d; every minute is evaluated, and the memory
source reads every point for each question, so the cost grows with the square of the span.
``start`` is from 1970 to 2999.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitoring.alerts.condition import parse_duration
from monitoring.alerts.evaluator import CollectingSink, evaluate
from monitoring.alerts.rules import check_rules
from monitoring.alerts.silences import Silence, parse_matcher
from monitoring.alerts.source import MemorySource
from monitoring.alerts.state import MemoryStateStore
from monitoring.clock import as_utc
from monitoring.errors import InputError, RuleError
from monitoring.kpi.metrics import METRICS

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["MAX_SPAN", "TestOutcome", "expand_values", "run_rule_tests"]

_SERIES = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(?:\{(.*)\})?\s*$", re.DOTALL)
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"]*)"\s*(?:,|$)')
_TOKEN = re.compile(r"^(_|-?[\d.]+)(?:([+-][\d.]+))?(?:x(\d+))?$")
DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)
MAX_SPAN = timedelta(days=8)
_MAX_VALUES = int(MAX_SPAN.total_seconds() // 60)
# Rules reach back up to 428 days (a 400-day window, a 28-day trend) and a test runs 8 days
# on: a start near either end of the datetime range overflowed instead of failing.
_EARLIEST, _LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC)


def expand_values(text: str) -> list[float | None]:
    """Expand Prometheus' series notation: ``1 2 _ 4``, ``5x3`` (4 values), ``0+10x3``."""
    values: list[float | None] = []
    for token in str(text).split():
        found = _TOKEN.match(token)
        if not found:
            raise ValueError(f"invalid value {token!r}: use numbers, _, axN or a+bxN")
        start, step, times = found.groups()
        count = int(times) + (start != "_") if times else 1
        # Checked before expanding: "1x99999999999" would take all memory first.
        if len(values) + count > _MAX_VALUES:
            raise ValueError(
                f"values expand to more than {_MAX_VALUES:,} minutes ({MAX_SPAN.days} days)"
            )
        if start == "_":
            values.extend([None] * count)
            continue
        try:
            first, delta = float(start), float(step) if step else 0.0
        except ValueError:
            raise ValueError(f"invalid value {token!r}: use numbers, _, axN or a+bxN") from None
        values.extend(first + delta * i for i in range(count))
    return values


def _span(text: str) -> timedelta:
    """Return the duration ``text`` of a test's timeline; raise ValueError past ``MAX_SPAN``."""
    duration = parse_duration(text)
    if duration > MAX_SPAN:
        raise ValueError(f"{text} is past the longest test, {MAX_SPAN.days}d")
    return duration


class _Series(BaseModel):
    model_config = ConfigDict(extra="forbid")
    series: str
    values: str
    users: int = Field(0, ge=0, le=10_000)  # one id set per series, kept for every minute

    @field_validator("values", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        return str(value)


class _SilenceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    matchers: list[str]
    start: str = "0m"
    end: str
    comment: str = "rule test"


class _Expected(BaseModel):
    model_config = ConfigDict(extra="forbid")
    exp_labels: dict[str, str] = Field(default_factory=dict)
    exp_annotations: dict[str, str] = Field(default_factory=dict)


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid")
    eval_time: str
    alertname: str
    exp_alerts: list[_Expected] = Field(default_factory=list)
    exp_notifications: int | None = None


class _Test(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "unnamed"
    start: datetime | None = None
    input_series: list[_Series] = Field(default_factory=list)
    silences: list[_SilenceSpec] = Field(default_factory=list)
    alert_rule_test: list[_Check] = Field(default_factory=list)


class _TestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule_files: list[str] = Field(default_factory=list)
    params: dict[str, float] = Field(default_factory=dict)
    tests: list[_Test] = Field(min_length=1)


@dataclass
class TestOutcome:
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def _parse_series(text: str) -> tuple[str, dict[str, str]]:
    found = _SERIES.match(text)
    if not found:
        raise ValueError(f'invalid series {text!r}: write metric{{label="value"}}')
    name, body = found.group(1), found.group(2) or ""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r} in series {text!r}")
    labels, at = {}, 0
    while body[at:].strip():
        # Read pair by pair to the end: findall skipped what it could not read ('/a' in
        # single quotes, a bare word), and the series lost that label without a word.
        pair = _LABEL.match(body, at)
        if pair is None:
            raise ValueError(
                f'unreadable labels {body[at:].strip()!r} in series {text!r}: write label="value"'
            )
        labels[pair.group(1)] = pair.group(2)
        at = pair.end()
    unknown = set(labels) - set(METRICS[name].labels)
    if unknown:
        raise ValueError(f"metric {name!r} has no label {', '.join(sorted(unknown))}")
    return name, labels


def _load_test_file(path: Path) -> _TestFile:
    """Parse ``path``, or raise ``RuleError`` naming every problem as file:line:column."""
    from monitoring.alerts.rules import Problem, _marks, _report_duplicate_keys, _Reporter

    def refuse(line: int, column: int, message: str) -> RuleError:
        return RuleError(str(Problem(str(path), line, column, message)))

    try:
        data = path.read_bytes()
    except OSError as error:
        raise refuse(1, 1, f"cannot read the rule test file: {error.strerror}") from None
    try:
        text = data.decode("utf-8")
        root = yaml.compose(text)
        raw = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise refuse(1, 1, "not UTF-8 text") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise refuse(line, column, f"invalid YAML: {error.problem}") from None
    except (yaml.YAMLError, RecursionError):
        raise refuse(1, 1, "invalid YAML") from None
    if root is None or not isinstance(raw, dict):
        raise refuse(1, 1, "a rule test file is a mapping with rule_files, params and tests")
    nodes: dict[tuple[Any, ...], Any] = {}
    _marks(root, (), nodes)
    report = _Reporter(path, nodes)
    _report_duplicate_keys(root, report)
    try:
        spec = _TestFile.model_validate(raw)
    except ValidationError as error:
        for problem in error.errors():
            loc = tuple(problem["loc"])
            report.at(loc, f"{'.'.join(map(str, loc))}: {problem['msg']}")
    else:
        for index, test in enumerate(spec.tests):
            _check_test(test, ("tests", index), report)
    if report.problems:
        raise RuleError("; ".join(str(problem) for problem in report.problems))
    return spec


def _silence_end(silence: _SilenceSpec) -> timedelta:
    end = _span(silence.end)
    try:
        start = _span(silence.start)
    except ValueError:  # reported at the start
        return end
    if end < start:
        raise ValueError("a silence ends before it starts")
    return end


def _check_test(test: _Test, where: tuple[Any, ...], report: Any) -> None:
    """Report each series, time and matcher of ``test`` that would not run, with its place."""
    checks: list[tuple[tuple[Any, ...], Callable[[], object]]] = []
    for i, series in enumerate(test.input_series):
        checks.append((("input_series", i, "series"), partial(_parse_series, series.series)))
        checks.append((("input_series", i, "values"), partial(expand_values, series.values)))
    for i, silence in enumerate(test.silences):
        for j, matcher in enumerate(silence.matchers):
            checks.append((("silences", i, "matchers", j), partial(parse_matcher, matcher)))
        checks.append((("silences", i, "start"), partial(_span, silence.start)))
        checks.append((("silences", i, "end"), partial(_silence_end, silence)))
    for i, check in enumerate(test.alert_rule_test):
        checks.append((("alert_rule_test", i, "eval_time"), partial(_span, check.eval_time)))

    name = f"test {test.name!r}"
    if test.start is not None and not _EARLIEST <= as_utc(test.start) < _LATEST:
        report.at((*where, "start"), f"{name}: start must be from 1970 to 2999")
    for path, parse in checks:
        try:
            parse()
        except ValidationError as error:  # a matcher's regex that does not compile
            message = error.errors()[0]["msg"].removeprefix("Value error, ")
            report.at((*where, *path), f"{name}: {message}")
        except (ValueError, InputError) as error:
            report.at((*where, *path), f"{name}: {error}")


def run_rule_tests(path: Path, settings: Settings | None = None) -> list[TestOutcome]:
    """Run the tests of ``path``; raise ``RuleError`` if it or its rules do not load."""
    spec = _load_test_file(path)
    rule_files = [path.parent / f for f in spec.rule_files] or (
        [settings.alerts_file] if settings else []
    )
    if not rule_files:
        raise RuleError(f"{path}: give rule_files")
    outcomes = []
    for rule_file in rule_files:
        ruleset, problems = check_rules(rule_file, settings)
        if ruleset is None:
            raise RuleError("; ".join(str(p) for p in problems))
        ruleset.params.update(spec.params)
        for test in spec.tests:
            outcomes.append(_run_one(test, ruleset))
    return outcomes


def _run_one(test: _Test, ruleset: Any) -> TestOutcome:
    """Run ``test``, checked by ``_check_test`` when its file loaded."""
    outcome = TestOutcome(test.name)
    start = as_utc(test.start) if test.start else DEFAULT_START
    source = MemorySource()
    try:
        for series in test.input_series:
            metric, labels = _parse_series(series.series)
            ids = {f"user-{i}" for i in range(series.users)}
            for minute, value in enumerate(expand_values(series.values)):
                if value is None:
                    continue
                source.add(
                    metric, start + timedelta(minutes=minute), value, labels, distinct_ids=ids
                )
        silences = [
            Silence(
                matchers=[parse_matcher(m) for m in s.matchers],
                starts_at=start + _span(s.start),
                ends_at=start + _span(s.end),
                author="rule test",
                comment=s.comment,
            )
            for s in test.silences
        ]
        checks = sorted(test.alert_rule_test, key=lambda c: _span(c.eval_time))
    except ValueError as error:  # checked at load; kept so a bug fails one test, not all
        outcome.failures.append(str(error))
        return outcome

    store, sink = MemoryStateStore(), CollectingSink()
    known = {rule.name for rule in ruleset.rules}
    minute, reported = 0, set[str]()
    for check in checks:
        if check.alertname not in known:
            outcome.failures.append(f"no rule named {check.alertname!r}")
            continue
        target = int(_span(check.eval_time).total_seconds() // 60)
        result = None
        while minute < target:
            minute += 1
            result = evaluate(
                ruleset,
                source,
                store,
                start + timedelta(minutes=minute),
                sink=sink,
                silences=silences,
            )
            _record_errors(result.errors, minute, reported, outcome)
        states = result.states if result else store.load_all()
        firing = [s for s in states.values() if s.rule == check.alertname and s.state == "firing"]
        _compare(check, firing, sink, outcome)
    return outcome


def _record_errors(
    errors: list[str], minute: int, reported: set[str], outcome: TestOutcome
) -> None:
    """Fail the test on an evaluation error: in production that rule would not have run.

    An error that repeats every minute is reported once, at the first minute it happened.
    """
    for error in errors:
        if error not in reported:
            reported.add(error)
            outcome.failures.append(f"evaluation failed at {minute}m: {error}")


def _compare(check: _Check, firing: list[Any], sink: CollectingSink, outcome: TestOutcome) -> None:
    where = f"{check.alertname} at {check.eval_time}"
    unmatched = list(firing)
    for expected in check.exp_alerts:
        match = next(
            (
                s
                for s in unmatched
                if all(s.labels.get(k) == v for k, v in expected.exp_labels.items())
            ),
            None,
        )
        if match is None:
            outcome.failures.append(
                f"{where}: expected an alert with labels {expected.exp_labels}; "
                f"firing: {[a.labels for a in firing]}"
            )
            continue
        unmatched.remove(match)
        if expected.exp_annotations:
            sent = [n for n in sink.sent if n.labels == match.labels and n.status == "firing"]
            got = sent[-1].annotations if sent else {}
            for key, value in expected.exp_annotations.items():
                if got.get(key) != value:
                    outcome.failures.append(
                        f"{where}: annotation {key!r} is {got.get(key)!r}, expected {value!r}"
                    )
    if unmatched:
        outcome.failures.append(
            f"{where}: unexpected firing alerts {[a.labels for a in unmatched]}"
        )
    if check.exp_notifications is not None:
        count = sum(1 for n in sink.sent if n.labels.get("alertname") == check.alertname)
        if count != check.exp_notifications:
            outcome.failures.append(
                f"{where}: {count} notifications sent, expected {check.exp_notifications}"
            )
