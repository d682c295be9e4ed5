"""Load and validate alerts.yaml: the ``params``, ``inhibit`` and ``groups`` sections.

Validation lives here, in one place: the loader reports every problem at once, each as
``file:line:column: message``, and a file with any problem loads no rule at all. Conditions
are compiled at load (``condition.py``), so unknown metrics, labels, functions, parameters,
channels and receivers are load errors, never evaluation errors.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitoring.alerts.condition import CompiledCondition, compile_condition, parse_duration
from monitoring.errors import RuleError
from monitoring.kpi.metrics import METRICS

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = [
    "CHANNELS",
    "InhibitRule",
    "Problem",
    "Rule",
    "RuleSet",
    "check_rules",
    "load_rules",
]

Severity = Literal["critical", "warning", "info"]
CHANNELS = ("email", "slack", "sms", "webhook", "pagerduty")
_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        # `for: 5` would be 5 seconds to us and 5 minutes to many readers: make them say.
        raise ValueError(f"{value} has no unit: write e.g. {value}m or {value}s")
    return parse_duration(str(value))


class RuleSpec(BaseModel):
    """One rule as written in the file."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=_NAME.pattern)
    condition: str = Field(min_length=1)
    for_: timedelta | None = Field(None, alias="for")
    keep_firing_for: timedelta = timedelta(0)
    repeat_interval: timedelta | None = None
    no_data: Literal["keep", "alert", "resolve"] = "keep"
    by: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    channels: list[Literal["email", "slack", "sms", "webhook", "pagerduty"]] = Field(
        default_factory=list
    )
    receivers: list[str] = Field(default_factory=list)
    impact: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True

    _durations = field_validator("for_", "keep_firing_for", "repeat_interval", mode="before")(
        lambda v: None if v is None else _duration(v)
    )


class GroupSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    severity: Severity | None = None
    rules: list[RuleSpec] = Field(default_factory=list)


class InhibitRule(BaseModel):
    """While an alert matching ``source`` fires, alerts matching ``target`` (and equal on
    the ``equal`` labels) send nothing. Matcher values are one value or a list of values."""

    model_config = ConfigDict(extra="forbid")

    source: dict[str, str | list[str]]
    target: dict[str, str | list[str]]
    equal: list[str] = Field(default_factory=list)
    comment: str = ""


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    setting: str | None = None
    value: float | None = None
    help: str = ""


@dataclass
class Rule:
    """A validated rule, ready to evaluate."""

    spec: RuleSpec
    severity: Severity
    group: str
    condition: CompiledCondition
    impact: dict[str, CompiledCondition]
    version: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def for_(self) -> timedelta:
        return self.spec.for_ or self.condition.for_ or timedelta(0)

    def static_labels(self) -> dict[str, str]:
        return {"alertname": self.name, "severity": self.severity, **self.spec.labels}


@dataclass
class RuleSet:
    path: Path
    rules: list[Rule]
    params: dict[str, float]
    inhibit: list[InhibitRule]
    receivers: dict[str, str | None] = field(default_factory=dict)  # name -> kind

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


def _marks(
    node: yaml.Node,
    path: tuple[Any, ...],
    out: dict[tuple[Any, ...], Any],
    seen: set[int] | None = None,
) -> None:
    out[path] = node
    # An alias is the same node again: walk it once, or nested aliases ("billion laughs")
    # make this exponential. Problems under a repeated alias point at where it is used.
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, "#key", key.value)] = key
            _marks(value, (*path, key.value), out, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _marks(item, (*path, index), out, seen)


def _report_duplicate_keys(root: yaml.Node, report: _Reporter) -> None:
    """Report a key given twice in one mapping: YAML keeps the last and drops the first."""
    stack, visited = [root], set[int]()
    while stack:
        node = stack.pop()
        if id(node) in visited:  # an alias: its keys were checked where it was defined
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        mark = key.start_mark
                        report.problems.append(
                            Problem(
                                report.file,
                                mark.line + 1,
                                mark.column + 1,
                                f"duplicate key {key.value!r}: the earlier one would be ignored",
                            )
                        )
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


class _Reporter:
    def __init__(self, path: Path, nodes: dict[tuple[Any, ...], Any]) -> None:
        self.file = str(path)
        self.nodes = nodes
        self.problems: list[Problem] = []

    def at(
        self, path: tuple[Any, ...], message: str, offset: tuple[int, int] | None = None
    ) -> None:
        """Record ``message`` at the YAML node nearest to ``path``."""
        while path and path not in self.nodes:
            path = path[:-1]
        node = self.nodes.get(path)
        line, column = (node.start_mark.line + 1, node.start_mark.column + 1) if node else (1, 1)
        if offset and node is not None:
            # Inside a condition string: one line of a quoted scalar starts after the quote.
            quoted = 1 if getattr(node, "style", None) in ('"', "'") else 0
            if offset[0] == 1:
                column += offset[1] - 1 + quoted
            else:
                line, column = line + offset[0] - 1, offset[1]
        self.problems.append(Problem(self.file, line, column, message))


def _settings_value(settings: Settings | None, dotted: str) -> float | None:
    from monitoring.config import load_settings

    target: Any = settings if settings is not None else load_settings()
    for part in dotted.split("."):
        if not hasattr(target, part):
            return None
        target = getattr(target, part)
    return float(target) if isinstance(target, int | float) else None


def _receivers(document: dict[str, Any], report: _Reporter) -> dict[str, str | None]:
    """Return receiver name -> kind; the routing loader's problems are reported with ours."""
    from monitoring.notifiers.routing import check_routing

    raw = document.get("receivers")
    entries = raw if isinstance(raw, dict) else {}
    kinds: dict[str, str | None] = {}
    for name, config in entries.items():
        kind = config.get("kind") or config.get("type") if isinstance(config, dict) else None
        kinds[str(name)] = str(kind) if kind else None
    routing, problems = check_routing(document)
    for problem in problems:
        report.at(problem.path, str(problem))
    if routing is not None:
        kinds.update({name: config.kind for name, config in routing.receivers.items()})
    return kinds


def _version(spec: RuleSpec, severity: str) -> str:
    body = json.dumps(
        [spec.model_dump(mode="json", by_alias=True), severity], sort_keys=True, default=str
    )
    return hashlib.sha256(body.encode()).hexdigest()[:12]


# Set from the rule itself: silences, inhibition and routing match on them, so a rule's
# `labels:` must not change them (rule x labelled alertname: y escaped x's silences, and a
# severity label disagreed with the severity notifications are routed by).
_RESERVED_LABELS = {
    "alertname": "it is the rule's name",
    "severity": "it is the group's severity",
}


def _check_labels(spec: RuleSpec, where: tuple[Any, ...], report: _Reporter) -> None:
    for name in spec.labels:
        at = (*where, "labels", "#key", name)
        if name in _RESERVED_LABELS:
            report.at(at, f"label {name!r} cannot be set: {_RESERVED_LABELS[name]}")
        elif not _NAME.fullmatch(name):  # match() would let "a\n" through
            report.at(at, f"label name {name!r} is not an identifier: use letters, digits and _")


def _check_templates(spec: RuleSpec, where: tuple[Any, ...], report: _Reporter) -> None:
    from monitoring.alerts.templates import check_template

    for key, text in spec.annotations.items():
        problem = check_template(text)
        if problem is not None:
            report.at((*where, "annotations", key), f"annotation {key!r}: {problem}")


def check_rules(
    path: Path, settings: Settings | None = None
) -> tuple[RuleSet | None, list[Problem]]:
    """Return the rule set and no problems, or ``None`` and every problem in the file."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return None, [Problem(str(path), 1, 1, f"cannot read the rules file: {error.strerror}")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line, column = before.count(b"\n") + 1, error.start - (before.rfind(b"\n") + 1) + 1
        message = f"not UTF-8 text: byte 0x{data[error.start]:02x} cannot be decoded"
        return None, [Problem(str(path), line, column, message)]
    try:
        root = yaml.compose(text)
        raw = yaml.safe_load(text) or {}
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, [Problem(str(path), line, column, f"invalid YAML: {error.problem}")]
    except (yaml.YAMLError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        return None, [Problem(str(path), 1, 1, f"invalid YAML: {reason}")]
    if root is None:
        # An empty file would silently switch every alert off: say so instead.
        return None, [Problem(str(path), 1, 1, "the rules file is empty")]
    nodes: dict[tuple[Any, ...], Any] = {}
    _marks(root, (), nodes)
    report = _Reporter(path, nodes)
    _report_duplicate_keys(root, report)
    if not isinstance(raw, dict):
        report.at((), "the rules file must be a mapping with params, groups and inhibit")
        return None, report.problems

    params = _load_params(raw.get("params") or {}, settings, report)
    receivers = _receivers(raw, report)
    rules = _load_groups(raw.get("groups") or [], params, receivers, report)
    inhibit = _load_inhibit(raw.get("inhibit") or [], _declared(raw.get("groups")), report)
    if report.problems:
        return None, report.problems
    return RuleSet(path, rules, params, inhibit, receivers), []


def _load_params(raw: Any, settings: Settings | None, report: _Reporter) -> dict[str, float]:
    budget = _settings_value(settings, "daily_budget_usd")
    params: dict[str, float] = {"budget": budget} if budget is not None else {}
    if not isinstance(raw, dict):
        report.at(("params",), "params must be a mapping of name to number or {setting: ...}")
        return params
    for name, value in raw.items():
        where = ("params", name)
        if not _NAME.match(str(name)) or name in METRICS:
            report.at(("params", "#key", name), f"param name {name!r} is not a free identifier")
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            params[name] = float(value)
            continue
        try:
            spec = ParamSpec.model_validate(value)
        except ValidationError:
            report.at(where, f"param {name!r}: expected a number or {{setting: <name>}}")
            continue
        if spec.value is not None:
            params[name] = spec.value
        elif spec.setting is not None:
            found = _settings_value(settings, spec.setting)
            if found is None:
                report.at(where, f"param {name!r}: no numeric setting {spec.setting!r}")
            else:
                params[name] = found
        else:
            report.at(where, f"param {name!r}: give a value or a setting")
    return params


def _load_groups(
    raw: Any, params: dict[str, float], receivers: dict[str, str | None], report: _Reporter
) -> list[Rule]:
    if not isinstance(raw, list):
        report.at(("groups",), "groups must be a list of {name, severity, rules}")
        return []
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where: tuple[Any, ...] = ("groups", index)
        try:
            group = GroupSpec.model_validate(item)
        except ValidationError as error:
            for problem in error.errors():
                loc = (*where, *problem["loc"])
                field = ".".join(map(str, problem["loc"])) or ".".join(map(str, where))
                report.at(loc, f"{field}: {problem['msg']}")
            continue
        named: dict[str, Severity] = {"critical": "critical", "warning": "warning", "info": "info"}
        severity = group.severity or named.get(group.name)
        if severity is None:
            report.at((*where, "name"), f"group {group.name!r} needs severity: critical, ...")
            continue
        for number, spec in enumerate(group.rules):
            rule_where = (*where, "rules", number)
            if spec.name in seen:
                report.at((*rule_where, "name"), f"rule {spec.name!r} is defined twice")
            seen.add(spec.name)
            rule = _load_rule(spec, severity, group.name, rule_where, params, receivers, report)
            if rule is not None and spec.enabled:
                rules.append(rule)
    return rules


def _load_rule(
    spec: RuleSpec,
    severity: Severity,
    group: str,
    where: tuple[Any, ...],
    params: dict[str, float],
    receivers: dict[str, str | None],
    report: _Reporter,
) -> Rule | None:
    before = len(report.problems)
    condition, errors = compile_condition(spec.condition, params)
    for error in errors:
        report.at((*where, "condition"), error.message, (error.line, error.column))
    impact: dict[str, CompiledCondition] = {}
    for key, text in spec.impact.items():
        compiled, errors = compile_condition(text, params)
        for error in errors:
            report.at((*where, "impact", key), f"impact {key!r}: {error.message}")
        if compiled:
            impact[key] = compiled
    if condition and condition.for_ and spec.for_:
        report.at((*where, "for"), "give `for` either in the condition or as a key, not both")
    if condition:
        primary = {sel.metric for sel in condition.selectors()}
        for label in spec.by:
            if not any(label in METRICS[m].labels for m in primary):
                report.at((*where, "by"), f"no metric of the condition has label {label!r}")
    for index, name in enumerate(spec.receivers):
        if name not in receivers:
            known = ", ".join(sorted(receivers)) or "none defined"
            report.at((*where, "receivers", index), f"unknown receiver {name!r} ({known})")
    if receivers and any(kind for kind in receivers.values()):
        kinds = set(receivers.values())
        for index, channel in enumerate(spec.channels):
            if channel not in kinds:
                report.at(
                    (*where, "channels", index),
                    f"no receiver of kind {channel!r} is defined under receivers",
                )
    _check_labels(spec, where, report)
    _check_templates(spec, where, report)
    if condition is None or len(report.problems) > before:
        return None
    return Rule(spec, severity, group, condition, impact, _version(spec, severity))


def _declared(groups: Any) -> set[str]:
    """Return every rule name written in the file, loaded or not (for cross-references)."""
    names = set()
    for group in groups if isinstance(groups, list) else []:
        rules = group.get("rules") if isinstance(group, dict) else None
        for rule in rules if isinstance(rules, list) else []:
            if isinstance(rule, dict) and "name" in rule:
                names.add(str(rule["name"]))
    return names


def _load_inhibit(raw: Any, names: set[str], report: _Reporter) -> list[InhibitRule]:
    if not isinstance(raw, list):
        report.at(("inhibit",), "inhibit must be a list of {source, target, equal}")
        return []
    result = []
    for index, item in enumerate(raw):
        where = ("inhibit", index)
        try:
            inhibit = InhibitRule.model_validate(item)
        except ValidationError as error:
            for problem in error.errors():
                loc = (*where, *problem["loc"])
                field = ".".join(map(str, problem["loc"])) or ".".join(map(str, where))
                report.at(loc, f"{field}: {problem['msg']}")
            continue
        for side in ("source", "target"):
            wanted = getattr(inhibit, side).get("alertname")
            for name in [wanted] if isinstance(wanted, str) else wanted or []:
                if names and name not in names:
                    report.at((*where, side, "alertname"), f"no rule named {name!r}")
        result.append(inhibit)
    return result


def load_rules(path: Path, settings: Settings | None = None) -> RuleSet:
    """Return the validated rules of ``path``; raise ``RuleError`` listing every problem."""
    rules, problems = check_rules(path, settings)
    if rules is None:
        raise RuleError("; ".join(str(p) for p in problems))
    return rules
