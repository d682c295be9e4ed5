"""Incidents against the Firestore emulator: opened by alerts, moved by people and time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitoring.alerts.jobs import run_evaluation
from monitoring.alerts.rules import load_rules
from monitoring.alerts.source import MemorySource
from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.errors import InputError, NotFound
from monitoring.incidents import service
from monitoring.notifiers.model import Notification
from monitoring.store import Collections, firestore_client

RULES = """\
params: {}
groups:
  - name: critical
    rules:
      - name: api_errors_high
        condition: error_rate > 10% for 2m
        labels: {service: api}
        annotations: {summary: "API errors at {{ value|pct }}"}
"""


def alert(clock: ManualClock, status: str = "firing", **labels: str) -> Notification:
    labels = {"alertname": "api_errors_high", "service": "api", **labels}
    return Notification(
        key=f"alert:{labels['alertname']}:{sorted(labels.items())}",
        kind="alert",
        status=status,
        severity=labels.pop("severity", "critical"),
        title=f"{labels['alertname']} on {labels['service']}",
        labels=labels,
        created_at=clock.now(),
    )


def outbox_keys(settings: Settings) -> dict[str, list[str]]:
    docs = firestore_client(settings).collection(Collections.OUTBOX).stream()
    return {(data := doc.to_dict() or {})["key"]: sorted(data["receivers"]) for doc in docs}


def test_firing_alert_opens_incident_and_its_resolution_moves_it_to_monitoring(
    settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    rules = load_rules(path, settings)
    source = MemorySource()
    start = clock.now()
    for minute in range(4):
        source.add("api_requests", start + timedelta(minutes=minute), 100, {"endpoint": "/a"})
        source.add("api_errors", start + timedelta(minutes=minute), 40, {"endpoint": "/a"})

    for minute in range(5):
        clock.set(start + timedelta(minutes=minute))
        run_evaluation(settings, clock.now(), source=source, rules=rules)
    opened = service.list_incidents(settings, open_only=True)
    assert len(opened) == 1
    incident = opened[0]
    assert (incident.service, incident.priority, incident.status) == ("api", "P1", "investigating")
    assert incident.opened_by == "alert:api_errors_high"
    assert [e.kind for e in incident.timeline] == ["opened", "alert_firing"]

    for minute in range(5, 12):  # errors stop; the alert resolves
        source.add("api_requests", start + timedelta(minutes=minute), 100, {"endpoint": "/a"})
        clock.set(start + timedelta(minutes=minute))
        run_evaluation(settings, clock.now(), source=source, rules=rules)
    calmed = service.get_incident(settings, incident.id)
    assert calmed.status == "monitoring"
    assert calmed.active_alerts == []
    assert calmed.timeline[-1].public is True

    quiet = timedelta(minutes=settings.incidents.quiet_period_minutes)
    assert calmed.monitoring_since is not None
    clock.set(calmed.monitoring_since + quiet - timedelta(minutes=1))
    assert service.tick(settings, clock.now()).closed == []
    clock.set(calmed.monitoring_since + quiet)
    assert service.tick(settings, clock.now()).closed == [incident.id]
    closed = service.get_incident(settings, incident.id)
    assert (closed.status, closed.open, closed.resolved_by) == ("resolved", False, "firewatch")
    assert closed.review is not None
    assert closed.review.due_at == clock.now() + timedelta(days=5)


def test_second_alert_for_the_same_service_joins_the_open_incident(
    settings: Settings, clock: ManualClock
) -> None:
    first = service.handle_alert(settings, alert(clock), clock.now())
    clock.advance(minutes=3)
    second = service.handle_alert(
        settings, alert(clock, alertname="latency_high", component="firestore"), clock.now()
    )
    assert first is not None and second is not None
    assert second.id == first.id
    assert len(second.active_alerts) == 2
    assert second.affected_services == ["api", "firestore"]
    assert len(service.list_incidents(settings)) == 1

    again = service.handle_alert(settings, alert(clock), clock.now())  # a retried transition
    assert again is not None
    assert len(again.timeline) == len(second.timeline)


def test_alert_for_another_service_opens_its_own_incident(
    settings: Settings, clock: ManualClock
) -> None:
    a = service.handle_alert(settings, alert(clock), clock.now())
    b = service.handle_alert(settings, alert(clock, service="billing"), clock.now())
    assert a is not None and b is not None
    assert a.id != b.id


def test_alert_that_fires_again_while_monitoring_reopens_investigation(
    settings: Settings, clock: ManualClock
) -> None:
    incident = service.handle_alert(settings, alert(clock), clock.now())
    service.handle_alert(settings, alert(clock, status="resolved"), clock.now())
    clock.advance(minutes=5)
    again = service.handle_alert(settings, alert(clock), clock.now())
    assert incident is not None and again is not None
    assert again.id == incident.id
    assert again.status == "investigating"


def test_warning_alert_opens_no_incident(settings: Settings, clock: ManualClock) -> None:
    assert service.handle_alert(settings, alert(clock, severity="warning"), clock.now()) is None
    assert service.list_incidents(settings) == []


@pytest.mark.parametrize(
    ("severity", "labels", "expected"),
    [
        ("critical", {}, "P1"),
        ("warning", {}, "P2"),
        ("info", {}, "P3"),
        ("critical", {"impact": "outage"}, "P0"),
        ("warning", {"category": "security"}, "P0"),
        ("critical", {"priority": "p3"}, "P3"),
    ],
    ids=["critical", "warning", "info", "outage", "security", "explicit-label"],
)
def test_classification_from_severity_and_labels(
    severity: str, labels: dict[str, str], expected: str
) -> None:
    assert service.classify(severity, labels) == expected


def test_priority_set_by_hand_is_not_changed_by_later_alerts(
    settings: Settings, clock: ManualClock
) -> None:
    incident = service.handle_alert(settings, alert(clock), clock.now())
    assert incident is not None
    service.set_priority(settings, incident.id, "P3", now=clock.now(), actor="ana")
    joined = service.handle_alert(
        settings, alert(clock, alertname="x", impact="outage"), clock.now()
    )
    assert joined is not None
    assert (joined.priority, joined.priority_source) == ("P3", "manual")


def test_missed_response_target_escalates_to_the_next_receiver(
    settings: Settings, clock: ManualClock
) -> None:
    settings.incidents.escalation_receivers = [["oncall-slack"], ["oncall-sms"]]
    incident = service.open_incident(
        settings, title="Checkout down", now=clock.now(), actor="ana", priority="P0"
    )
    opened_at = clock.now()

    clock.set(opened_at + timedelta(minutes=14, seconds=59))
    assert service.tick(settings, clock.now()).escalated == []
    clock.set(opened_at + timedelta(minutes=15))
    assert service.tick(settings, clock.now()).escalated == [incident.id]
    keys = outbox_keys(settings)
    assert keys[f"incident:{incident.id}:escalation:1"] == ["oncall-slack"]

    clock.set(opened_at + timedelta(minutes=29))
    assert service.tick(settings, clock.now()).escalated == []
    clock.set(opened_at + timedelta(minutes=30))
    assert service.tick(settings, clock.now()).escalated == [incident.id]
    assert outbox_keys(settings)[f"incident:{incident.id}:escalation:2"] == ["oncall-sms"]

    after = service.get_incident(settings, incident.id)
    assert after.escalation_level == 2
    assert [e.kind for e in after.timeline].count("escalated") == 2


KNOWN = "(it has oncall-email, oncall-slack, oncall-sms)"


@pytest.mark.parametrize(
    ("steps", "why"),
    [
        (
            [["oncall-slakc"]],
            "FIREWATCH_INCIDENTS__ESCALATION_RECEIVERS[0]: alerts.yaml defines no receiver"
            f" 'oncall-slakc' {KNOWN}",
        ),
        (
            [[]],
            "FIREWATCH_INCIDENTS__ESCALATION_RECEIVERS[0] is an empty list; name at least one"
            " receiver of alerts.yaml",
        ),
    ],
    ids=["typo", "empty-step"],
)
def test_escalation_to_no_known_receiver_stays_due_and_says_why_once(
    settings: Settings,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    steps: list[list[str]],
    why: str,
) -> None:
    settings.incidents.escalation_receivers = steps
    incident = service.open_incident(
        settings, title="Checkout down", now=clock.now(), actor="ana", priority="P0"
    )
    clock.advance(minutes=15)

    with caplog.at_level("ERROR", logger="monitoring.incidents.service"):
        ticked = service.tick(settings, clock.now())
    assert (ticked.escalated, ticked.unescalated) == ([], [incident.id])
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"incident {incident.id} not escalated: {why}"
    ]
    assert f"incident:{incident.id}:escalation:1" not in outbox_keys(settings)
    clock.advance(minutes=1)
    assert service.tick(settings, clock.now()).unescalated == [incident.id]

    stuck = service.get_incident(settings, incident.id)
    assert stuck.escalation_level == 0
    assert [(e.kind, e.message) for e in stuck.timeline if "escalat" in e.kind] == [
        ("escalation_failed", f"Response target of 15 min missed; cannot escalate: {why}")
    ]

    settings.incidents.escalation_receivers = [["oncall-slack"]]
    clock.advance(minutes=1)
    assert service.tick(settings, clock.now()).escalated == [incident.id]
    assert outbox_keys(settings)[f"incident:{incident.id}:escalation:1"] == ["oncall-slack"]
    assert service.get_incident(settings, incident.id).escalation_blocked is None


def test_acknowledged_incident_does_not_escalate(settings: Settings, clock: ManualClock) -> None:
    settings.incidents.escalation_receivers = [["oncall-slack"]]
    incident = service.open_incident(
        settings, title="Slow", now=clock.now(), actor="ana", priority="P1"
    )
    clock.advance(minutes=10)
    acked = service.acknowledge(settings, incident.id, now=clock.now(), actor="bo")
    assert (acked.acknowledged_by, acked.acknowledged_at) == ("bo", clock.now())
    clock.advance(hours=2)
    assert service.tick(settings, clock.now()).escalated == []


def test_stale_public_status_sends_a_reminder_once_per_interval(
    settings: Settings, clock: ManualClock
) -> None:
    incident = service.open_incident(
        settings, title="Uploads failing", now=clock.now(), actor="ana", priority="P1"
    )
    opened_at = clock.now()
    clock.set(opened_at + timedelta(minutes=59))
    assert service.tick(settings, clock.now()).reminded == []
    clock.set(opened_at + timedelta(minutes=60))
    assert service.tick(settings, clock.now()).reminded == [incident.id]
    assert f"incident:{incident.id}:reminder:1" in outbox_keys(settings)
    clock.set(opened_at + timedelta(minutes=90))
    assert service.tick(settings, clock.now()).reminded == []

    service.update(
        settings,
        incident.id,
        message="Fix deploying",
        now=clock.now(),
        actor="ana",
        status="identified",
    )
    clock.set(opened_at + timedelta(minutes=149))
    assert service.tick(settings, clock.now()).reminded == []
    clock.set(opened_at + timedelta(minutes=150))
    assert service.tick(settings, clock.now()).reminded == [incident.id]


def test_manual_lifecycle_records_who_acted_and_schedules_review(
    settings: Settings, clock: ManualClock
) -> None:
    incident = service.open_incident(
        settings, title="Login errors", now=clock.now(), actor="ana", service="auth"
    )
    clock.advance(minutes=5)
    service.update(
        settings,
        incident.id,
        message="Bad deploy found",
        now=clock.now(),
        actor="bo",
        status="identified",
    )
    clock.advance(minutes=20)
    done = service.resolve(settings, incident.id, now=clock.now(), actor="bo")
    assert [(e.kind, e.actor) for e in done.timeline] == [
        ("opened", "ana"),
        ("status", "bo"),
        ("resolved", "bo"),
    ]
    assert done.review is not None and done.review.status == "scheduled"
    with pytest.raises(InputError, match="resolved"):
        service.update(settings, incident.id, message="late", now=clock.now(), actor="bo")
    # The service is free again: a new alert opens a new incident.
    fresh = service.handle_alert(settings, alert(clock, service="auth"), clock.now())
    assert fresh is not None and fresh.id != incident.id


def test_opened_and_resolved_notices_of_an_incident_share_one_dedup_key(
    settings: Settings, clock: ManualClock
) -> None:
    from monitoring.notifiers.pagerduty import dedup_key

    incident = service.open_incident(
        settings, title="Checkout down", now=clock.now(), actor="ana", priority="P0"
    )
    clock.advance(minutes=20)
    service.resolve(settings, incident.id, now=clock.now(), actor="bo")

    docs = firestore_client(settings).collection(Collections.OUTBOX).stream()
    notices = {
        (n := Notification.model_validate((d.to_dict() or {})["notification"])).key: n for d in docs
    }
    opened, resolved = (notices[f"incident:{incident.id}:{e}"] for e in ("opened", "resolved"))
    assert dedup_key(opened) == dedup_key(resolved) == f"incident:{incident.id}"


def test_unknown_incident_is_not_found(settings: Settings, clock: ManualClock) -> None:
    with pytest.raises(NotFound, match="INC-nope"):
        service.acknowledge(settings, "INC-nope", now=clock.now(), actor="ana")
