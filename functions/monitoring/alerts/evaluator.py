"""One evaluation of every rule at one minute.

Steps of ``evaluate``:

1. compute each rule's condition for each label set (new ones from the data, known ones from
   stored state, so an alert whose series vanished still resolves or keeps by its no-data
   policy; a stored one the rule no longer makes, its labels edited, resolves);
2. run the state machine for each label set in its own transaction, writing state and a
   history entry for each transition;
3. find which alerts fire now, for inhibition;
4. for each message the state machine asked for: drop it if a silence or an inhibiting alert
   covers it (noting why in history), else send it and mark it sent.

An alert whose rule was removed or disabled resolves at step 2 (see ``_retire``).

Sending happens after the transaction commits. A crash between the two leaves the message
unmarked, so the next minute sends it again under the same idempotency key, and the outbox
stores it once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import product
from typing import Any, Protocol

from monitoring.alerts.condition import EvalContext
from monitoring.alerts.rules import InhibitRule, Rule, RuleSet
from monitoring.alerts.silences import Silence
from monitoring.alerts.source import CachingSource, MetricSource
from monitoring.alerts.state import AlertState, StateStore, Step, fingerprint, step
from monitoring.alerts.templates import format_value, template_env
from monitoring.clock import floor_minute
from monitoring.notifiers.model import Notification

__all__ = ["EvaluationResult", "Sink", "Transition", "evaluate", "format_value"]

logger = logging.getLogger(__name__)


class Sink(Protocol):
    def send(self, notification: Notification, receivers: list[str] | None, now: datetime) -> None:
        """Hand ``notification`` on; raising leaves it unsent, to be retried next minute."""
        ...


@dataclass
class CollectingSink:
    """Keep notifications in a list (rule unit tests, backtests, dry runs)."""

    sent: list[Notification] = field(default_factory=list)

    def send(self, notification: Notification, receivers: list[str] | None, now: datetime) -> None:
        self.sent.append(notification)


@dataclass(frozen=True)
class Transition:
    rule: str
    labels: dict[str, str]
    from_state: str
    to_state: str
    value: float | None
    at: datetime


@dataclass
class EvaluationResult:
    now: datetime
    evaluated: int = 0
    transitions: list[Transition] = field(default_factory=list)
    sent: list[Notification] = field(default_factory=list)
    suppressed: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)
    errors: list[str] = field(default_factory=list)
    states: dict[str, AlertState] = field(default_factory=dict)

    def firing(self) -> list[AlertState]:
        return [s for s in self.states.values() if s.state == "firing"]


def _render(
    env: Any, templates: Mapping[str, str], context: Mapping[str, Any]
) -> tuple[dict[str, str], list[str]]:
    """Return the annotations that rendered and a note for each that did not."""
    rendered, failed = {}, []
    for key, template in templates.items():
        try:
            rendered[key] = str(env.from_string(template).render(**context))
        except Exception as error:  # a template must never block the alert it describes
            logger.warning("annotation %s failed to render", key, exc_info=True)
            failed.append(f"{key}: {type(error).__name__}: {error}")
    return rendered, failed


def _label_sets(rule: Rule, source: MetricSource, ctx: EvalContext) -> list[dict[str, str]]:
    """Return the label sets of ``rule``'s ``by`` labels present in the data now."""
    by = rule.spec.by
    if not by:
        return [{}]
    from monitoring.kpi.metrics import METRICS

    primary = next(
        (s for s in rule.condition.selectors() if set(by) <= set(METRICS[s.metric].labels)),
        None,
    )
    if primary is None:
        return []
    window = ctx.window(primary.window)
    values = []
    for label in by:
        found = source.aggregate_by(primary.metric, "count", window, label, primary.labels)
        values.append(sorted(k for k, v in found.items() if v))
    return [dict(zip(by, combo, strict=True)) for combo in product(*values)]


def _inhibited(
    labels: Mapping[str, str], firing: list[AlertState], rules: list[InhibitRule]
) -> str | None:
    def matches(matchers: Mapping[str, str | list[str]], candidate: Mapping[str, str]) -> bool:
        for name, wanted in matchers.items():
            options = [wanted] if isinstance(wanted, str) else wanted
            if candidate.get(name) not in options:
                return False
        return True

    for inhibit in rules:
        if not matches(inhibit.target, labels):
            continue
        # Alertmanager's rule: an alert on both sides of an inhibit rule cannot inhibit one
        # that is on both sides too, or two such alerts would silence each other and neither
        # would ever be sent (prometheus/alertmanager#666, #1764).
        both_sides = matches(inhibit.source, labels)
        for source in firing:
            if source.labels == dict(labels) or not matches(inhibit.source, source.labels):
                continue
            if both_sides and matches(inhibit.target, source.labels):
                continue
            if all(source.labels.get(k) == labels.get(k) for k in inhibit.equal):
                return f"inhibited by {source.rule}"
    return None


@dataclass
class _Pending:
    rule: Rule | None  # None: the rule is gone from alerts.yaml
    fp: str
    step: Step
    history_id: str | None


def evaluate(
    ruleset: RuleSet,
    source: MetricSource,
    store: StateStore,
    now: datetime,
    *,
    sink: Sink,
    silences: list[Silence] | None = None,
    repeat_interval: timedelta = timedelta(hours=1),
    only_rules: set[str] | None = None,
) -> EvaluationResult:
    """Evaluate every rule at ``now`` (see the module docstring); never raises per rule."""
    now = floor_minute(now)
    cached = CachingSource(source)
    result = EvaluationResult(now)
    states = store.load_all()
    pending: list[_Pending] = []
    rules = [r for r in ruleset.rules if only_rules is None or r.name in only_rules]

    for rule in rules:
        try:
            pending.extend(
                _evaluate_rule(rule, ruleset, cached, store, states, now, repeat_interval)
            )
            result.evaluated += 1
        except Exception as error:
            logger.error(
                "rule %s failed to evaluate", rule.name, exc_info=True, extra={"rule_id": rule.name}
            )
            result.errors.append(f"{rule.name}: {error}")
    if only_rules is None:
        pending.extend(_retire(ruleset, store, states, now))

    for item in pending:
        states[item.fp] = item.step.state
        if item.step.transition:
            before, after = item.step.transition
            result.transitions.append(
                Transition(
                    item.step.state.rule,
                    item.step.state.labels,
                    before,
                    after,
                    item.step.state.value,
                    now,
                )
            )
    result.states = states
    firing = [s for s in states.values() if s.state == "firing"]
    env = template_env()

    for item in pending:
        if item.step.notify:
            _deliver(item, ruleset, cached, store, firing, silences or [], env, sink, now, result)
    logger.info(
        "evaluated %d rules: %d transitions, %d sent, %d suppressed",
        result.evaluated,
        len(result.transitions),
        len(result.sent),
        len(result.suppressed),
    )
    return result


@dataclass(frozen=True)
class _Observation:
    """What one label set of a rule showed this minute."""

    labels: dict[str, str]
    breached: bool | None
    value: float | None
    no_data: str
    severity: str


def _observe(
    rule: Rule,
    ruleset: RuleSet,
    source: MetricSource,
    states: Mapping[str, AlertState],
    now: datetime,
) -> list[_Observation]:
    """Return an observation for each label set of ``rule``: those in the data, those it has
    stored state for, and those it no longer produces (see below)."""
    static = rule.static_labels()
    probe = EvalContext(source, now, ruleset.params)
    groups = {tuple(sorted(g.items())) for g in _label_sets(rule, source, probe)}
    orphans: list[AlertState] = []
    for known in states.values():
        if known.rule != rule.name or known.state == "inactive":
            continue
        group = tuple(sorted((k, known.labels[k]) for k in rule.spec.by if k in known.labels))
        if known.labels == {**static, **dict(group)} and len(group) == len(rule.spec.by):
            groups.add(group)
        else:
            orphans.append(known)

    out = []
    for group in sorted(groups):
        ctx = EvalContext(source, now, ruleset.params, dict(group))
        breached, value = rule.condition.evaluate(ctx)
        labels = {**static, **dict(group)}
        out.append(_Observation(labels, breached, value, rule.spec.no_data, rule.severity))
    # A label set the rule no longer produces (a `by` label or a rule label removed or
    # changed, the severity changed) is never evaluated again, so it would stay firing
    # forever, inhibiting and never resolved: it resolves now, as `no_data: resolve` would,
    # under its old severity, so the resolved message goes where the firing one went.
    for known in orphans:
        out.append(_Observation(known.labels, None, None, "resolve", known.severity))
    return out


def _evaluate_rule(
    rule: Rule,
    ruleset: RuleSet,
    source: MetricSource,
    store: StateStore,
    states: Mapping[str, AlertState],
    now: datetime,
    default_repeat: timedelta,
) -> list[_Pending]:
    out = []
    for seen in _observe(rule, ruleset, source, states, now):
        fp = fingerprint(rule.name, seen.labels)
        history_id = f"{fp}-{now:%Y%m%dT%H%M}"
        repeat = rule.spec.repeat_interval or default_repeat

        def apply(
            prev: AlertState | None,
            seen: _Observation = seen,
            history_id: str = history_id,
            repeat: timedelta = repeat,
        ) -> tuple[AlertState, Step, dict[str, Any] | None] | None:
            if prev is not None and prev.last_eval is not None and prev.last_eval >= now:
                return None  # another run already evaluated this minute
            base = prev or AlertState(rule.name, seen.labels, seen.severity)
            base.rule_version, base.severity = rule.version, seen.severity
            base.receivers = receivers_for(rule, ruleset)
            outcome = step(
                base,
                seen.breached,
                seen.value,
                now,
                for_=rule.for_,
                keep_firing_for=rule.spec.keep_firing_for,
                no_data=seen.no_data,
                repeat_interval=repeat,
            )
            entry = None
            if outcome.transition:
                entry = {
                    "id": history_id,
                    "rule": rule.name,
                    "fingerprint": outcome.state.fingerprint,
                    "labels": seen.labels,
                    "severity": seen.severity,
                    "from": outcome.transition[0],
                    "to": outcome.transition[1],
                    "at": now,
                    "value": seen.value,
                    "no_data": seen.breached is None,
                    "rule_version": rule.version,
                    "episode": outcome.state.episode,
                    "suppressed_by": None,
                }
            return outcome.state, outcome, entry

        if _quiet(states.get(fp), seen.breached, seen.no_data):
            continue  # nothing to change: no transaction, no write (most rules, most minutes)
        outcome = store.apply(fp, apply)
        if outcome is not None:
            keep = outcome.transition is not None or outcome.notify is not None
            out.append(_Pending(rule, fp, outcome, history_id if outcome.transition else None))
            if not keep:
                out[-1].history_id = None
    return out


def _retire(
    ruleset: RuleSet, store: StateStore, states: Mapping[str, AlertState], now: datetime
) -> list[_Pending]:
    """Resolve the alerts of rules no longer in ``ruleset`` (removed or disabled).

    Nothing evaluates them any more: left alone they would fire forever, inhibit other
    alerts and never send their resolved message (nor close their PagerDuty incident).
    """
    names = {rule.name for rule in ruleset.rules}
    out = []
    for fp, known in states.items():
        if known.rule in names or _quiet(known, None, "resolve"):
            continue
        history_id = f"{fp}-{now:%Y%m%dT%H%M}"

        def apply(
            prev: AlertState | None, history_id: str = history_id
        ) -> tuple[AlertState, Step, dict[str, Any] | None] | None:
            if prev is None or (prev.last_eval is not None and prev.last_eval >= now):
                return None
            outcome = step(
                prev,
                None,
                None,
                now,
                for_=timedelta(0),
                keep_firing_for=timedelta(0),
                no_data="resolve",
                repeat_interval=timedelta.max,
            )
            entry = None
            if outcome.transition:
                entry = {
                    "id": history_id,
                    "rule": prev.rule,
                    "fingerprint": prev.fingerprint,
                    "labels": prev.labels,
                    "severity": prev.severity,
                    "from": outcome.transition[0],
                    "to": outcome.transition[1],
                    "at": now,
                    "value": None,
                    "no_data": True,
                    "rule_version": prev.rule_version,
                    "episode": prev.episode,
                    "suppressed_by": None,
                }
            return outcome.state, outcome, entry

        outcome = store.apply(fp, apply)
        if outcome is not None and (outcome.transition or outcome.notify):
            out.append(_Pending(None, fp, outcome, history_id if outcome.transition else None))
    return out


def _quiet(known: AlertState | None, breached: bool | None, no_data: str) -> bool:
    """Return whether an observation cannot change a stored state that is at rest.

    At rest means inactive, or resolved with its resolved message sent (or never owed). A
    concurrent run that moved the state on meanwhile has evaluated this minute itself.
    """
    if breached is True or (breached is None and no_data == "alert"):
        return False
    if known is None or known.state == "inactive":
        return True
    return known.state == "resolved" and (known.notified_resolved or not known.notified_firing)


def _suppression(
    labels: Mapping[str, str],
    silences: list[Silence],
    firing: list[AlertState],
    ruleset: RuleSet,
    now: datetime,
) -> str | None:
    for silence in silences:
        if silence.active(now) and silence.matches(labels):
            return f"{silence.kind} {silence.id}"
    return _inhibited(labels, firing, ruleset.inhibit)


def _deliver(
    item: _Pending,
    ruleset: RuleSet,
    source: MetricSource,
    store: StateStore,
    firing: list[AlertState],
    silences: list[Silence],
    env: Any,
    sink: Sink,
    now: datetime,
    result: EvaluationResult,
) -> None:
    state, kind = item.step.state, item.step.notify
    assert kind is not None
    key = f"alert:{item.fp}:{state.episode_id}:{kind}"
    if kind == "repeat":
        key = f"{key}:{state.repeats + 1}"
    reason = (
        _suppression(state.labels, silences, firing, ruleset, now) if kind != "resolved" else None
    )
    if kind == "resolved" and _suppression(state.labels, silences, [], ruleset, now):
        reason = "silenced"
    if reason:
        result.suppressed.append((key, reason))
        if item.history_id:
            store.mark_history(item.history_id, {"suppressed_by": reason})
        return

    if item.rule is None:
        notification, receivers = _retired_notification(state, key, now), state.receivers
    else:
        notification = build_notification(item.rule, state, kind, key, ruleset, source, env, now)
        receivers = receivers_for(item.rule, ruleset)
    try:
        sink.send(notification, receivers, now)
    except Exception as error:
        logger.error(
            "could not hand %s to delivery", key, exc_info=True, extra={"rule_id": state.rule}
        )
        result.errors.append(f"{state.rule}: notification not queued ({error})")
        return
    result.sent.append(notification)
    updates: dict[str, Any] = {"last_notified_at": now}
    if kind == "firing":
        updates["notified_firing"] = True
    elif kind == "repeat":
        updates["repeats"] = state.repeats + 1
    else:
        updates["notified_resolved"] = True
    store.mark(item.fp, updates)


def receivers_for(rule: Rule, ruleset: RuleSet) -> list[str] | None:
    """Return the rule's named receivers plus receivers of its channels; ``None`` routes."""
    names = list(rule.spec.receivers)
    for name, kind in sorted(ruleset.receivers.items()):
        if kind in rule.spec.channels and name not in names:
            names.append(name)
    return names or None


def _impact(
    rule: Rule, state: AlertState, ruleset: RuleSet, source: MetricSource, now: datetime
) -> dict[str, str]:
    """Return user-impact facts: the rule's own ``impact`` expressions, else distinct users
    and events of the condition's first metric over its window, where the data has them."""
    group = {k: state.labels[k] for k in rule.spec.by if k in state.labels}
    ctx = EvalContext(source, now, ruleset.params, group)
    fields: dict[str, str] = {}
    if rule.impact:
        for name, compiled in rule.impact.items():
            _, value = compiled.evaluate(EvalContext(source, now, ruleset.params, group))
            if value is not None:
                fields[name] = format_value(value)
        return fields
    selectors = rule.condition.selectors()
    if not selectors:
        return fields
    first = selectors[0]
    try:
        # The first metric that carries user ids gives the users; the first one the events.
        for selector in selectors:
            users = source.aggregate(
                selector.metric, "distinct", ctx.window(selector.window), selector.query_labels(ctx)
            )
            if users:
                name = "users affected today" if source.distinct_per_day else "users affected"
                fields[name] = f"{users:,.0f}"
                break
        events = source.aggregate(
            first.metric, "count", ctx.window(first.window), first.query_labels(ctx)
        )
    except Exception:  # impact is a courtesy; never let it block the alert
        logger.warning("impact query failed for %s", rule.name, exc_info=True)
        return fields
    if events:
        fields[f"{first.metric} events in window"] = f"{events:,.0f}"
    return fields


def _retired_notification(state: AlertState, key: str, now: datetime) -> Notification:
    """Return the resolved message of an alert whose rule is gone (nothing left to render)."""
    group = ", ".join(
        f"{k}={v}" for k, v in state.labels.items() if k not in ("alertname", "severity")
    )
    return Notification(
        key=key,
        dedup_key=f"alert:{state.fingerprint}:{state.episode_id}",
        kind="alert",
        status="resolved",
        severity=state.severity,
        # The status says "resolved" in every channel; the title names the alert alone.
        title=state.rule + (f" ({group})" if group else ""),
        summary=f"Rule {state.rule} was removed or disabled in alerts.yaml.",
        labels=dict(state.labels),
        starts_at=state.fired_at,
        ends_at=state.resolved_at,
        fields={"value": "no data", "rule version": state.rule_version},
        created_at=now,
    )


def build_notification(
    rule: Rule,
    state: AlertState,
    kind: str,
    key: str,
    ruleset: RuleSet,
    source: MetricSource,
    env: Any,
    now: datetime,
) -> Notification:
    group = ", ".join(f"{k}={state.labels[k]}" for k in rule.spec.by if k in state.labels)
    # The state keeps the last value seen; a message sent for missing data must not show it
    # as current (in a summary, the Value field, PagerDuty's details).
    value = None if state.no_data else state.value
    context = {
        "value": value,
        "labels": state.labels,
        "params": ruleset.params,
        "rule": rule.name,
        "severity": state.severity,
        "status": "resolved" if kind == "resolved" else "firing",
    }
    # A template that fails to render is left out, so the default summary is sent, never
    # the template's source; the fields say which failed and why.
    annotations, failed = _render(env, rule.spec.annotations, context)
    default = f"{rule.condition.text} (value {format_value(value)})"
    title = rule.name + (f" ({group})" if group else "")
    fields = {"value": format_value(value), "condition": rule.condition.text}
    if kind != "resolved":
        fields.update(_impact(rule, state, ruleset, source, now))
    fields["rule version"] = rule.version
    if failed:
        fields["annotations not rendered"] = "; ".join(failed)
    return Notification(
        key=key,
        dedup_key=f"alert:{state.fingerprint}:{state.episode_id}",
        kind="alert",
        status="resolved" if kind == "resolved" else "firing",
        severity=state.severity,
        title=title,
        summary=annotations.get("summary", default),
        description=annotations.get("description", ""),
        labels=dict(state.labels),
        annotations=annotations,
        value=value,
        starts_at=state.fired_at,
        ends_at=state.resolved_at if kind == "resolved" else None,
        fields=fields,
        created_at=now,
    )
