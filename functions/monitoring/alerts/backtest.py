"""Backtests: run rules over stored KPI history before enabling them.

The rules run minute by minute (or every ``step``) through the production evaluator and state
machine, with state and messages kept in memory, so the answer ("fired 3 times, would have
sent 5 messages") is what production would have done with the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from monitoring.alerts.evaluator import CollectingSink, evaluate
from monitoring.alerts.rules import RuleSet
from monitoring.alerts.source import MetricSource
from monitoring.alerts.state import MemoryStateStore
from monitoring.clock import floor_minute

__all__ = ["BacktestRow", "backtest"]


@dataclass
class BacktestRow:
    rule: str
    severity: str
    episodes: int = 0
    messages: int = 0
    minutes_firing: float = 0.0
    no_data_evaluations: int = 0
    errors: int = 0


def backtest(
    ruleset: RuleSet,
    source: MetricSource,
    start: datetime,
    end: datetime,
    *,
    step: timedelta = timedelta(minutes=1),
    repeat_interval: timedelta = timedelta(hours=1),
) -> list[BacktestRow]:
    """Return, per rule, how often it would have fired in ``[start, end)`` and what it sent."""
    if step < timedelta(minutes=1):
        raise ValueError("the backtest step must be at least one minute")
    if floor_minute(start) + step > end:
        raise ValueError("the backtest step is longer than the backtest: nothing to evaluate")
    rows = {r.name: BacktestRow(r.name, r.severity) for r in ruleset.rules}
    store, sink = MemoryStateStore(), CollectingSink()
    now = floor_minute(start) + step
    while now <= end:
        result = evaluate(ruleset, source, store, now, sink=sink, repeat_interval=repeat_interval)
        for transition in result.transitions:
            if transition.to_state == "firing":
                rows[transition.rule].episodes += 1
        for state in result.states.values():
            if state.rule in rows and state.last_eval == now:
                if state.state == "firing":
                    rows[state.rule].minutes_firing += step.total_seconds() / 60
                if state.no_data:
                    rows[state.rule].no_data_evaluations += 1
        for error in result.errors:
            rows[error.split(":", 1)[0]].errors += 1
        now += step
    for notification in sink.sent:
        rows[notification.labels["alertname"]].messages += 1
    return list(rows.values())
