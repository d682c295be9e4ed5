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
    # Unfolded, a long Subject header keeps the space that folded it.
    subjects = [str(m.message["Subject"]).strip() for m in mailbox.messages]
    assert any("2 firing" in s and "api_error_ratio_high" in s for s in subjects), subjects
    assert "[RESOLVED] [replay] api_error_ratio_high" in subjects, subjects
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
            # Its alerts resolved: after the log, the replay lets the quiet period pass.
            "resolved",
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
    log = write("nginx", outage_log(minutes=12, per_minute=30))  # ends in the outage

    replay_file(live, log, ReplayOptions())

    replayed = [i for i in list_incidents(live) if i.id != ongoing.id]
    assert [(i.origin, i.title, i.opened_at) for i in replayed] == [
        ("replay", "[replay] api_error_ratio_high", LOG_START + timedelta(minutes=11))
    ]
    untouched = get_incident(live, ongoing.id)
    assert untouched.alerts == [] and [e.kind for e in untouched.timeline] == ["opened"]
    # Still open when the log ends. The live tick runs on the wall clock, a week on: it must
    # leave the replay's incident to the replay's own clock (no reminder, no escalation).
    assert replayed[0].status == "investigating"
    later = wall + timedelta(days=1)
    live_tick = tick(live, later)
    assert live_tick.reminded == [ongoing.id] and live_tick.escalated == []
    assert tick(live, later, origin="replay").reminded == [replayed[0].id]


def test_replaying_a_log_again_sends_its_alerts_again(
    settings: Settings, tmp_path: Path, mailbox: MailCatcher, write: Callable[..., Path]
) -> None:
    # Each replay keeps alert state in memory, so both make the same episodes at the same log
    # times; the outbox must still take the second replay's messages as new ones.
    live = _live_settings(settings, tmp_path, mailbox)
    first = second = write("nginx", outage_log(minutes=20, per_minute=30))

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


def test_only_rules_a_request_log_can_feed_are_replayed_unless_all_rules(
    settings: Settings, tmp_path: Path, mailbox: MailCatcher, write: Callable[..., Path]
) -> None:
    # A fresh stack stored no backups for the log's period: judged by that, the backup rule
    # would fire through the whole replay and page on-call for it.
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        ALERT_RULES
        + """      - name: backup_missing
        condition: absent(backups_completed[26h])
"""
    )
    live = settings.model_copy(update={"alerts_file": rules})
    log = write("nginx", outage_log(minutes=16, per_minute=30))

    default = replay_file(live, log, ReplayOptions(dry_run=True))
    everything = replay_file(live, log, ReplayOptions(dry_run=True, all_rules=True))

    assert [a.rule for a in default.alerts] == ["api_error_ratio_high"]
    assert any("1 rules not evaluated" in w and "backup_missing" in w for w in default.warnings)
    assert sorted({a.rule for a in everything.alerts}) == ["api_error_ratio_high", "backup_missing"]


def test_a_recent_logs_incident_closes_on_the_wall_clock_not_in_the_future(
    settings: Settings, tmp_path: Path, mailbox: MailCatcher, write: Callable[..., Path]
) -> None:
    from monitoring.clock import ManualClock
    from monitoring.incidents.service import list_incidents, tick

    live = _live_settings(settings, tmp_path, mailbox)
    log = write("nginx", outage_log(minutes=20, per_minute=30))
    log_end = LOG_START + timedelta(minutes=20)
    wall = log_end + timedelta(minutes=10)  # the log ended ten minutes ago

    replay_file(live, log, ReplayOptions(), clock=ManualClock(wall))

    [replayed] = list_incidents(live)
    assert replayed.status == "monitoring"  # its quiet period (60 min) has not passed yet
    # Later, the live tick on the wall clock closes it; it never escalates or reminds it.
    later = tick(live, log_end + timedelta(hours=2))
    assert later.closed == [replayed.id] and later.reminded == []
    [closed] = list_incidents(live)
    assert closed.resolved_at == log_end + timedelta(hours=2)
