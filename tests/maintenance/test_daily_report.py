"""The daily report on seeded KPIs, stored in Firestore and delivered by mail and Slack."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.errors import BackupError
from monitoring.kpi.recorder import get_recorder
from monitoring.localstack.catchers import HttpReceiver, MailCatcher
from monitoring.localstack.emulators import FirestoreEmulator, StorageEmulator
from monitoring.maintenance import jobs
from monitoring.maintenance.report import Section
from monitoring.maintenance.security import open_writes, rotations_due
from monitoring.store import Collections, firestore_client
from tests.conftest import make_settings

RULES = """\
rules_version = '2';
service cloud.firestore {
  match /databases/{database}/documents {
    match /users/{uid} {
      allow read, write: if request.auth != null && request.auth.uid == uid;
    }
    // A guestbook someone opened up "for now".
    match /guestbook/{entry} {
      allow read;
      allow create: if request.resource.data.size() < 10;
    }
    match /fw_status/{doc=**} {
      allow read: if true;
      allow write: if false;
    }
  }
}
"""


@pytest.fixture
def report_settings(
    settings: Settings,
    firestore_emulator: FirestoreEmulator,
    storage_emulator: StorageEmulator,
    mailbox: MailCatcher,
    receiver: HttpReceiver,
    tmp_path: Path,
) -> Settings:
    rules = tmp_path / "firestore.rules"
    rules.write_text(RULES)
    return make_settings(
        firestore_emulator,
        storage_emulator,
        environment="production",
        daily_budget_usd=50,
        notify={"smtp_port": mailbox.port, "slack_webhook_url": f"{receiver.url}/slack/T0K3N"},
        maintenance={
            "report_receivers": ["oncall-email"],
            "summary_receivers": ["oncall-slack"],
            "rules_file": str(rules),
            "secret_rotation_due": {"SLACK_WEBHOOK": "2026-02-20", "SMTP_PASSWORD": "2026-03-10"},
        },
    )


def seed(settings: Settings, now: datetime) -> None:
    """Seven ordinary days, then a worse yesterday: slower, more errors, over budget."""
    recorder = get_recorder(settings)
    yesterday = now.replace(hour=0, minute=0) - timedelta(days=1)
    for back in range(8):
        day = yesterday - timedelta(days=back)
        bad = back == 0
        at = day + timedelta(hours=12)
        for minute in range(4):
            when = at + timedelta(minutes=minute)
            labels = {"endpoint": "/api/chat", "method": "POST", "status_class": "2xx"}
            recorder.record("api_requests", 250, labels, at=when)
            recorder.record("api_errors", 12 if bad else 2, labels, at=when)
            for ms in (100, 120, 140, 900 if bad else 160):
                recorder.record(
                    "api_response_time_ms", ms, {"endpoint": "/api/chat", "method": "POST"}, at=when
                )
        recorder.record("api_requests", 90, {"endpoint": "/api/search"}, at=at)
        recorder.record("prompt_executions", 100, {"model": "gpt-4o", "status": "ok"}, at=at)
        recorder.record("prompt_executions", 300, {"model": "mini", "status": "ok"}, at=at)
        recorder.record("prompt_cost_usd", 55 if bad else 20, {"model": "gpt-4o"}, at=at)
        recorder.record("prompt_cost_usd", 3, {"model": "mini"}, at=at)
        recorder.record("auth_failures", 40 if bad else 3, {"reason": "bad_password"}, at=at)
        recorder.record("auth_refused", 7, {"endpoint": "/admin", "status": "403"}, at=at)
        if bad:
            recorder.record("cache_hits", 30, {"cache": "embeddings"}, at=at)
            recorder.record("cache_misses", 70, {"cache": "embeddings"}, at=at)
            recorder.record("component_up", 1.0, {"component": "api"}, at=at)
            recorder.record("component_up", 0.5, {"component": "api"}, at=at + timedelta(hours=1))
    recorder.flush(now)


def broken_backups() -> Section:
    raise BackupError("bucket firewatch-missing does not exist")


def test_daily_report_has_every_section_and_one_failing_part_does_not_stop_the_rest(
    report_settings: Settings, clock: ManualClock, mailbox: MailCatcher, receiver: HttpReceiver
) -> None:
    from monitoring.notifiers.jobs import drain_outbox

    settings, now = report_settings, clock.now()
    seed(settings, now)
    parts = [
        (key, title, broken_backups if key == "backups" else build)
        for key, title, build in jobs.daily_parts(settings, now)
    ]
    report = jobs.build_daily(settings, now, parts=parts)

    assert report.id == "daily-2026-03-01"
    assert [s.key for s in report.sections] == [
        "health",
        "kpis",
        "cost",
        "security",
        "dependencies",
        "backups",
        "incidents",
    ]
    backups = report.section("backups")
    assert backups.status == "error"
    assert backups.error == "BackupError: bucket firewatch-missing does not exist"
    assert report.status == "fail"

    kpis = {row[0]: row for row in report.section("kpis").rows}
    assert kpis["API error rate"][1:] == ["4.40%", "0.73%", "+500.0%"]
    assert kpis["Prompt executions per day"][1:] == ["400", "400", "+0.0%"]
    assert kpis["Cost per execution"][3] == "+152.2%"  # 58/400 against 23/400
    assert kpis["API response time P95"][3] != "n/a"
    assert report.section("kpis").status == "warn"

    cost = report.section("cost")
    assert cost.status == "fail"
    assert cost.summary == "Spent $58.00 of the $50.00 budget (116%)."
    assert any("Model gpt-4o took 95%" in r for r in cost.recommendations)
    assert any("Cache embeddings answered 30%" in r for r in cost.recommendations)
    assert ["endpoint /api/chat", "1,000 requests", "", ""] in cost.rows

    security = report.section("security")
    assert security.status == "fail"
    assert (
        "firestore.rules:10 allows create on /databases/{database}/documents/guestbook/{entry}"
        in (security.summary)
    )
    assert "secret SLACK_WEBHOOK is 10 day(s) past" in security.summary
    assert "secret SMTP_PASSWORD must be rotated by 2026-03-10" in security.summary
    assert ["Failed sign-ins", "40 (usual 3.0/day): bad_password 40"] in security.rows

    assert report.section("dependencies").status == "skipped"
    assert report.section("health").rows  # the real health checks ran
    assert ["uptime api", "75.00%", "", ""] in report.section("incidents").rows

    stored = firestore_client(settings).collection(Collections.REPORTS).document(report.id).get()
    assert (stored.to_dict() or {})["sections"][5]["error"].startswith("BackupError")

    # Delivery retries with backoff; on a loaded machine a first attempt may time out.
    for attempt in range(4):
        drain_outbox(settings, now + timedelta(minutes=10 * attempt))
        if mailbox.messages and receiver.requests("/slack/T0K3N"):
            break
    [mail] = mailbox.messages
    assert "Daily report for 2026-03-01" in mail.subject
    html = mail.html()
    assert "Cost against the daily budget" in html and "BackupError" in html
    [slack] = receiver.requests("/slack/T0K3N")
    text = str(slack.json())
    assert "Backups: ERROR" in text
    assert len(text) < 2000


def test_rerunning_the_day_overwrites_the_report_and_sends_nothing_new(
    report_settings: Settings, clock: ManualClock
) -> None:
    quick = [("kpis", "KPIs", lambda: Section(key="kpis", title="KPIs", summary="fine"))]
    jobs.build_daily(report_settings, clock.now(), parts=quick)
    jobs.build_daily(report_settings, clock.now(), parts=quick)
    db = firestore_client(report_settings)
    assert len(list(db.collection(Collections.REPORTS).stream())) == 1
    assert len(list(db.collection(Collections.OUTBOX).stream())) == 2  # email + summary, once


def test_a_summary_receiver_alerts_yaml_lacks_is_named_and_the_email_still_goes(
    report_settings: Settings, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    report_settings.maintenance.summary_receivers = ["oncall-slakc"]
    quick = [("kpis", "KPIs", lambda: Section(key="kpis", title="KPIs", summary="fine"))]
    with caplog.at_level("ERROR", logger="monitoring.maintenance.jobs"):
        report = jobs.build_daily(report_settings, clock.now(), parts=quick)

    db = firestore_client(report_settings)
    assert [d.id for d in db.collection(Collections.REPORTS).stream()] == [report.id]
    outbox = [d.to_dict() or {} for d in db.collection(Collections.OUTBOX).stream()]
    assert [(o["key"], sorted(o["receivers"])) for o in outbox] == [
        (f"report:{report.id}", ["oncall-email"])
    ]
    [logged] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert logged.getMessage() == f"could not queue report {report.id}"
    assert logged.exc_info is not None
    assert str(logged.exc_info[1]) == (
        f"report {report.id}: FIREWATCH_MAINTENANCE__SUMMARY_RECEIVERS: alerts.yaml defines no"
        " receiver 'oncall-slakc' (it has oncall-email, oncall-slack, oncall-sms)"
    )


@pytest.mark.parametrize(
    ("statement", "flagged"),
    [
        ("allow write;", True),
        ("allow read, write: if true;", True),
        ("allow create: if request.resource.data.keys().size() < 3;", True),
        ("allow update: if request.auth != null;", False),
        ("allow write: if false;", False),
        ("allow read: if true;", False),
    ],
    ids=["bare", "if-true", "no-auth-check", "auth", "false", "read-only"],
)
def test_rules_scan_flags_writes_without_authentication(statement: str, flagged: bool) -> None:
    rules = "service cloud.firestore {\n match /databases/{db}/documents {\n  match /x/{id} {\n"
    found = open_writes(rules + f"   {statement}\n  }}\n }}\n}}\n")
    assert bool(found) is flagged
    if flagged:
        assert (found[0].line, found[0].path) == (4, "/databases/{db}/documents/x/{id}")


def test_rotation_lists_overdue_and_soon_due_secrets_only() -> None:
    due = {"A": date(2026, 3, 1), "B": date(2026, 3, 20), "C": date(2026, 6, 1)}
    found = rotations_due(due, date(2026, 3, 10), warn_days=14)
    assert [(r.name, r.days_left) for r in found] == [("A", -9), ("B", 10)]


FUNCTIONS = """\
service cloud.firestore {
  match /databases/{db}/documents {
    function signedIn() { return request.auth != null; }
    function isUser(uid) { return signedIn() && request.auth.uid == uid; }
    function smallDoc() { return request.resource.data.size() < 10; }
    match /x/{id} {
      STATEMENT
    }
  }
}
"""


@pytest.mark.parametrize(
    ("statement", "flagged"),
    [
        ("allow write: if isUser(id);", False),
        ("allow write: if isUser(id) || smallDoc();", True),
        ("allow write: if smallDoc();", True),
        ("allow write: if (signedIn() || isUser(id)) && smallDoc();", False),
    ],
    ids=["via-function", "or-unauthenticated", "function-without-auth", "grouped"],
)
def test_rules_scan_follows_rules_functions(statement: str, flagged: bool) -> None:
    assert bool(open_writes(FUNCTIONS.replace("STATEMENT", statement))) is flagged


def test_the_projects_own_rules_allow_no_unauthenticated_write() -> None:
    from tests.conftest import REPO

    assert open_writes((REPO / "firestore.rules").read_text()) == []
