"""Every rule of the shipped alerts.yaml loads and evaluates against KPIs in the emulator,
written through the KPI recorder and read back through the KPI query API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from monitoring.alerts.jobs import run_evaluation
from monitoring.alerts.rules import load_rules
from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.kpi.recorder import get_recorder, reset_recorders, track_api_performance
from monitoring.store import Collections


def _record_a_bad_ten_minutes(settings: Settings, clock: ManualClock) -> None:
    # Immediate 5xx events have their own tests; here they would only queue 120 messages.
    settings.kpi.immediate_events = False
    reset_recorders()
    recorder = get_recorder(settings)
    start = clock.now() - timedelta(minutes=10)
    for minute in range(10):
        at = start + timedelta(minutes=minute)
        for i in range(20):
            track_api_performance(
                settings,
                endpoint="/api/execute",
                method="POST",
                response_time_ms=2500.0,
                status_code=500 if i < 12 else 200,
                user_id=f"user-{i}",
                at=at,
            )
        recorder.record("prompt_cost_usd", 10.0, {"model": "gpt"}, at=at)  # $100 today
        recorder.record("function_memory_usage", 0.95, {"function": "worker"}, at=at)
        recorder.record("component_up", 1.0, {"component": "firestore"}, at=at)
        recorder.record("cache_hits", 10, {"cache": "prompts"}, at=at)
        recorder.record("cache_misses", 30, {"cache": "prompts"}, at=at)
    recorder.flush(clock.now())


def test_every_shipped_rule_evaluates_against_recorded_kpis(
    settings: Settings, clock: ManualClock, db: Any
) -> None:
    _record_a_bad_ten_minutes(settings, clock)
    rules = load_rules(settings.alerts_file, settings)
    assert len(rules.rules) >= 14

    results = []
    for minute in range(3):
        results.append(run_evaluation(settings, clock.now() + timedelta(minutes=minute)))

    assert [r.errors for r in results] == [[], [], []]
    assert {r.evaluated for r in results} == {len(rules.rules)}
    states = {(s.rule, s.labels.get("endpoint")): s.state for s in results[-1].states.values()}
    # 60 % errors for 2 minutes of evaluation; the 5-minute window still holds bad minutes.
    assert states[("api_error_storm", None)] == "firing"
    assert states[("high_error_rate", "/api/execute")] == "pending"
    assert states[("daily_spend_over_150pct", None)] == "firing"
    assert states[("daily_cost_over_budget", None)] == "firing"
    assert states[("backup_missing", None)] == "firing"
    assert states[("slow_api_p95", None)] == "pending"
    assert states[("cache_hit_rate_low", None)] == "pending"
    assert ("firestore_unhealthy", None) not in states or states[("firestore_unhealthy", None)] in (
        "inactive",
    )

    storm = next(n for r in results for n in r.sent if n.labels["alertname"] == "api_error_storm")
    # Fired at +2m: its 5-minute window holds the last 3 recorded minutes, 12 errors each.
    assert storm.fields["failed requests (5m)"] == "36"
    assert storm.fields["active users today"] == "20"
    outbox = [d.to_dict()["key"] for d in db.collection(Collections.OUTBOX).stream()]
    assert any(key == storm.key for key in outbox)
