"""End to end: a log replayed through the real recorder, evaluator, outbox, incidents and
SMTP, as the live jobs would have run minute by minute."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from monitoring.config import Settings
from monitoring.localstack.catchers import MailCatcher
from monitoring.replay.driver import ReplayOptions, replay_file
from monitoring.store import Collections, firestore_client
from tests.replay.conftest import ALERT_RULES, LOG_START, outage_log


def _live_settings(settings: Settings, tmp_path: Path, mailbox: MailCatcher) -> Settings:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(ALERT_RULES.replace("severity: warning", "severity: critical"))
    return settings.model_copy(
        update={
            "alerts_file": rules,
            "notify": settings.notify.model_copy(update={"smtp_port": mailbox.port}),
        }
    )


def test_replayed_outage_mails_on_call_and_opens_an_incident_that_calms(
    settings: Settings, tmp_path: Path, mailbox: MailCatcher, write: Callable[..., Path]
) -> None:
    # 20 minutes of 30 requests; minutes 8 to 12 answer 60 % 503s.
    log = write("nginx", outage_log(minutes=20, per_minute=30))
    live = _live_settings(settings, tmp_path, mailbox)

    summary = replay_file(live, log, ReplayOptions())

    assert [(a.rule, a.severity, a.fired_at, a.resolved_at) for a in summary.alerts] == [
        (
            "api_error_ratio_high",
            "critical",
            LOG_START + timedelta(minutes=11),
            LOG_START + timedelta(minutes=14),
        )
    ]
    subjects = [m.message["Subject"] for m in mailbox.messages]
    assert any("2 firing" in s and "api_error_ratio_high" in s for s in subjects), subjects
    assert "[RESOLVED] api_error_ratio_high" in subjects, subjects
    assert all(m.rcpt_tos == ["oncall@example.com"] for m in mailbox.messages)

    db = firestore_client(live)
    deliveries = [doc.to_dict() or {} for doc in db.collection(Collections.DELIVERIES).stream()]
    alert_deliveries = {d["status"] for d in deliveries if "api_error_ratio_high" in d["title"]}
    assert alert_deliveries == {"firing", "resolved"}
    incidents = [doc.to_dict() or {} for doc in db.collection(Collections.INCIDENTS).stream()]
    assert [
        (i["opened_by"], i["opened_at"], i["monitoring_since"], i["status"]) for i in incidents
    ] == [
        (
            "alert:api_error_ratio_high",
            LOG_START + timedelta(minutes=11),
            LOG_START + timedelta(minutes=14),
            "monitoring",  # closes after the quiet period (60 min), past the log's end
        )
    ]


def test_dry_run_sends_nothing_and_opens_no_incident(
    settings: Settings, tmp_path: Path, mailbox: MailCatcher, write: Callable[..., Path]
) -> None:
    log = write("nginx", outage_log(minutes=16, per_minute=30))
    live = _live_settings(settings, tmp_path, mailbox)
    printed: list[str] = []

    summary = replay_file(
        live, log, ReplayOptions(dry_run=True), on_notification=lambda n: printed.append(n.status)
    )

    assert printed == ["firing", "resolved"]
    assert [n.status for n in summary.notifications] == ["firing", "resolved"]
    assert mailbox.messages == []
    db = firestore_client(live)
    assert list(db.collection(Collections.OUTBOX).stream()) == []
    assert list(db.collection(Collections.INCIDENTS).stream()) == []
    assert list(db.collection(Collections.ALERT_STATE).stream()) == []


def test_replaying_a_period_again_warns_that_counts_add_up(
    settings: Settings, tmp_path: Path, mailbox: MailCatcher, write: Callable[..., Path]
) -> None:
    log = write("gcp", outage_log(minutes=3, per_minute=25))
    live = _live_settings(settings, tmp_path, mailbox)

    first = replay_file(live, log, ReplayOptions(dry_run=True))
    second = replay_file(live, log, ReplayOptions(dry_run=True))

    assert first.warnings == []
    assert second.warnings == [
        "2026-02-23 09:00Z already had 25 API requests recorded; this replay adds to them "
        "(replaying a period twice counts it twice)"
    ]


def test_a_replay_keeps_its_incidents_apart_from_the_live_ones(
    settings: Settings, tmp_path: Path, mailbox: MailCatcher, write: Callable[..., Path]
) -> None:
    from monitoring.incidents.service import get_incident, list_incidents, open_incident, tick

    live = _live_settings(settings, tmp_path, mailbox)
    wall = LOG_START + timedelta(days=7)  # the log is last week's
    ongoing = open_incident(live, title="Checkout is slow", now=wall, actor="ana")
    log = write("nginx", outage_log(minutes=20, per_minute=30))

    replay_file(live, log, ReplayOptions())

    replayed = [i for i in list_incidents(live) if i.id != ongoing.id]
    assert [(i.origin, i.title, i.opened_at, i.status) for i in replayed] == [
        ("replay", "[replay] api_error_ratio_high", LOG_START + timedelta(minutes=11), "monitoring")
    ]
    untouched = get_incident(live, ongoing.id)
    assert untouched.alerts == [] and [e.kind for e in untouched.timeline] == ["opened"]

    # The live tick runs on the wall clock: a week past the replayed incident's quiet period,
    # it must leave that incident to the replay's own clock.
    assert tick(live, wall).closed == []
    assert get_incident(live, replayed[0].id).status == "monitoring"
    assert tick(live, LOG_START + timedelta(hours=2), origin="replay").closed == [replayed[0].id]


def test_a_second_replay_of_another_period_sends_its_own_alerts(
    settings: Settings, tmp_path: Path, mailbox: MailCatcher, write: Callable[..., Path]
) -> None:
    # Each replay keeps alert state in memory, so both count their first episode as 1; the
    # outbox must still tell the two episodes apart and deliver the second one's messages.
    from monitoring.replay.synthetic import demo_requests

    live = _live_settings(settings, tmp_path, mailbox)
    first = write("nginx", outage_log(minutes=20, per_minute=30), name="monday.log")
    later = list(
        demo_requests(
            LOG_START + timedelta(days=1), 20, 30, outage_start=8, outage_minutes=5,
            outage_error_ratio=0.6,
        )
    )  # fmt: skip
    second = write("nginx", later, name="tuesday.log")

    def delivered() -> list[str]:
        db = firestore_client(live)
        records = [doc.to_dict() or {} for doc in db.collection(Collections.DELIVERIES).stream()]
        return sorted(
            r["status"]
            for r in records
            if r["title"].endswith("api_error_ratio_high") and "Incident" not in r["title"]
        )

    replay_file(live, first, ReplayOptions())
    after_first = delivered()
    summary = replay_file(live, second, ReplayOptions())

    assert set(after_first) == {"firing", "resolved"}
    assert len(summary.alerts) == 1
    assert delivered() == sorted(after_first * 2)
