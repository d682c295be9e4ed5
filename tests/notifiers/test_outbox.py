"""The outbox against the Firestore emulator and real receivers: stored before sent,
idempotent, retried across drains, dead-lettered, failed over without loops, grouped and
rate-limited, and never lost when a drain dies between a send and its mark."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from monitoring.config import Settings
from monitoring.errors import ConfigError
from monitoring.localstack.catchers import HttpReceiver, MailCatcher, Reply
from monitoring.localstack.emulators import free_port
from monitoring.notifiers import jobs
from monitoring.notifiers.jobs import context_for, drain_outbox
from monitoring.notifiers.outbox import enqueue, outbox_id
from monitoring.store import Collections, firestore_client
from tests.notifiers.conftest import HOOK_TOKEN, SLACK_TOKEN, Sleeps, alert, at

HOOK = f"/hook/{HOOK_TOKEN}"
SLACK = f"/slack/{SLACK_TOKEN}"
PD = "/v2/enqueue"


def hook_receiver(**extra: Any) -> dict[str, Any]:
    return {"kind": "webhook", **extra}


def pd_receiver(receiver: HttpReceiver, **extra: Any) -> dict[str, Any]:
    return {"kind": "pagerduty", "events_url": receiver.url + PD, **extra}


def drain(settings: Settings, minutes: float, sleeps: Sleeps | None = None) -> jobs.DrainResult:
    ctx = context_for(settings)
    ctx.sleep = sleeps if sleeps is not None else (lambda _s: None)
    ctx.rng = random.Random(3)
    return drain_outbox(settings, at(minutes), ctx=ctx)


def outbox(settings: Settings) -> list[dict[str, Any]]:
    docs = firestore_client(settings).collection(Collections.OUTBOX).stream()
    return [d.to_dict() or {} for d in docs]


def test_a_notification_is_stored_before_anything_is_sent(
    fs_settings: Callable[..., Settings], receiver: HttpReceiver
) -> None:
    settings = fs_settings({"hook": hook_receiver()})

    doc_id = enqueue(settings, alert(), now=at(0))

    [doc] = outbox(settings)
    assert doc_id == outbox_id(alert())
    assert doc["receivers"]["hook"]["state"] == "pending"
    assert doc["notification"]["title"] == "Error rate above 5%"
    assert receiver.requests() == []


def test_enqueueing_the_same_key_twice_stores_and_sends_once(
    fs_settings: Callable[..., Settings], receiver: HttpReceiver
) -> None:
    settings = fs_settings({"hook": hook_receiver()})

    first = enqueue(settings, alert(), now=at(0))
    drain(settings, 0)
    second = enqueue(settings, alert(), now=at(1))  # after delivery, too
    drain(settings, 1)

    assert first == second
    assert len(receiver.requests(HOOK)) == 1
    assert outbox(settings) == []


def test_firing_and_resolved_of_one_key_are_two_messages(
    fs_settings: Callable[..., Settings], receiver: HttpReceiver
) -> None:
    settings = fs_settings({"pd": pd_receiver(receiver)})

    enqueue(settings, alert(), now=at(0))
    drain(settings, 0)
    enqueue(settings, alert(status="resolved"), now=at(5))
    drain(settings, 5)

    actions = [(r.json()["event_action"], r.json()["dedup_key"]) for r in receiver.requests(PD)]
    assert actions == [("trigger", alert().key), ("resolve", alert().key)]


def test_routes_from_alerts_yaml_pick_the_receivers(
    fs_settings: Callable[..., Settings], receiver: HttpReceiver, mailbox: MailCatcher
) -> None:
    settings = fs_settings(
        {"mail": {"kind": "email", "to": ["ops@example.com"]}, "hook": hook_receiver()},
        routes=[
            {"severity": ["critical"], "receivers": ["mail", "hook"]},
            {"severity": ["warning"], "receivers": ["mail"]},
        ],
    )

    enqueue(settings, alert(key="a", severity="critical"), now=at(0))
    enqueue(settings, alert(key="b", severity="warning", title="Latency high"), now=at(0))
    result = drain(settings, 0)

    assert result.delivered == 3
    assert len(receiver.requests(HOOK)) == 1
    assert {m.subject.strip() for m in mailbox.messages} == {
        "[Firewatch] 2 firing, 0 resolved: Error rate above 5% and 1 more"
    }


def test_an_unknown_receiver_name_is_a_config_error(
    fs_settings: Callable[..., Settings],
) -> None:
    settings = fs_settings({"hook": hook_receiver()})

    with pytest.raises(ConfigError, match="no receiver named nope"):
        enqueue(settings, alert(), ["nope"], now=at(0))


def test_a_failing_receiver_is_retried_on_later_drains_and_others_are_not_held_back(
    fs_settings: Callable[..., Settings], receiver: HttpReceiver
) -> None:
    settings = fs_settings({"hook": hook_receiver(), "pd": pd_receiver(receiver)})
    receiver.script(HOOK, Reply(500), Reply(500), Reply(500))

    enqueue(settings, alert(), now=at(0))
    first = drain(settings, 0)
    early = drain(settings, 0.5)  # before the retry delay: nothing is due
    later = drain(settings, 5)

    assert (first.delivered, first.failed) == (1, 1)
    assert early.messages == 0
    assert later.delivered == 1
    assert [r.status for r in receiver.requests(HOOK)] == [500, 500, 500, 200]
    assert len(receiver.requests(PD)) == 1
    assert outbox(settings) == []


def test_a_long_retry_after_postpones_the_next_drain_attempt(
    fs_settings: Callable[..., Settings], receiver: HttpReceiver
) -> None:
    settings = fs_settings({"hook": hook_receiver()}, retry_delay_s=10)
    receiver.script(HOOK, Reply(429, headers={"Retry-After": "600"}))

    enqueue(settings, alert(), now=at(0))
    drain(settings, 0)
    before = drain(settings, 9)
    after = drain(settings, 10)

    assert before.messages == 0
    assert after.delivered == 1


def test_after_the_retry_budget_it_dead_letters_and_fails_over_without_loops(
    fs_settings: Callable[..., Settings], receiver: HttpReceiver, mailbox: MailCatcher
) -> None:
    dead_port = free_port()
    settings = fs_settings(
        {
            "chat": {"kind": "slack", "fallback": "mail"},
            "mail": {"kind": "email", "to": ["ops@example.com"], "fallback": "chat"},
        },
        routes=[{"receivers": ["chat"]}],
        max_attempts=2,
        call_attempts=1,
        smtp_port=dead_port,  # e-mail is down too: its fallback is Slack, which failed
    )
    receiver.respond_with(lambda method, path, body: Reply(500))

    enqueue(settings, alert(), now=at(0))
    for minute in range(0, 60, 2):
        drain(settings, minute)

    db = firestore_client(settings)
    dead = sorted(d.get("receiver") for d in db.collection(Collections.DEAD_LETTERS).stream())
    # The alert died on Slack, then on e-mail; the notice about Slack went to e-mail and
    # died there, and neither was sent back to Slack.
    assert dead == ["chat", "mail", "mail"]
    assert len(receiver.requests(SLACK)) == 2
    assert outbox(settings) == []


def test_a_dead_channel_is_reported_through_its_fallback(
    fs_settings: Callable[..., Settings], receiver: HttpReceiver, mailbox: MailCatcher
) -> None:
    settings = fs_settings(
        {
            "chat": {"kind": "slack", "fallback": "mail"},
            "mail": {"kind": "email", "to": ["ops@example.com"]},
        },
        routes=[{"receivers": ["chat"]}],
    )
    receiver.script(SLACK, Reply(404, body="no_service"))

    enqueue(settings, alert(), now=at(0))
    drain(settings, 0)
    drain(settings, 1)

    # The original and the notice are due together, so they arrive as one grouped mail.
    [mail] = mailbox.messages
    # A subject that fits a line of its own is folded after "Subject:" (RFC 5322 allows
    # it); the parsed value keeps the fold's space.
    assert mail.subject.strip().startswith("[Firewatch] 1 firing, 0 resolved, 1 other: Error rate")
    assert "Sent to mail because chat failed: slack answered HTTP 404" in mail.text()
    assert "Notification channel chat is failing" in mail.text()
    assert len(receiver.requests(SLACK)) == 1  # 404 is permanent: not retried


def test_a_burst_of_50_alerts_is_one_grouped_message_per_receiver(
    fs_settings: Callable[..., Settings], receiver: HttpReceiver, mailbox: MailCatcher
) -> None:
    settings = fs_settings(
        {"mail": {"kind": "email", "to": ["ops@example.com"]}, "chat": {"kind": "slack"}}
    )

    for i in range(50):
        enqueue(settings, alert(key=f"burst-{i}", title=f"Alert {i}"), now=at(0))
    result = drain(settings, 0)

    assert result.messages == 2 and result.delivered == 100
    [mail] = mailbox.messages
    assert mail.subject.strip().startswith("[Firewatch] 50 firing, 0 resolved")
    assert "Alert 49" in mail.text()
    [slack] = receiver.requests(SLACK)
    assert slack.json()["text"].startswith("[Firewatch] 50 firing, 0 resolved: Alert ")


def test_a_receiver_that_cannot_group_is_rate_limited_per_minute(
    fs_settings: Callable[..., Settings], receiver: HttpReceiver
) -> None:
    settings = fs_settings({"pd": pd_receiver(receiver, rate_limit_per_minute=2)})

    for i in range(5):
        enqueue(settings, alert(key=f"k{i}"), now=at(0))
    first = drain(settings, 0)
    same_minute = drain(settings, 0.5)
    next_minute = drain(settings, 1)
    third = drain(settings, 2)

    assert (first.delivered, first.postponed) == (2, 3)
    assert same_minute.delivered == 0
    assert (next_minute.delivered, third.delivered) == (2, 1)
    assert len({r.json()["dedup_key"] for r in receiver.requests(PD)}) == 5


def test_a_resolve_never_overtakes_the_trigger_it_closes(
    fs_settings: Callable[..., Settings], receiver: HttpReceiver
) -> None:
    settings = fs_settings({"pd": pd_receiver(receiver), "hook": hook_receiver()})
    receiver.script(PD, Reply(429, headers={"Retry-After": "240"}))
    # The webhook fails too but is retried sooner, so the trigger's document is due again
    # while its PagerDuty delivery still waits.
    receiver.script(HOOK, Reply(500), Reply(500), Reply(500))
    firing = alert(key="alert:fp:1:firing", dedup_key="alert:fp:1")
    resolved = alert(key="alert:fp:1:resolved", dedup_key="alert:fp:1", status="resolved")

    enqueue(settings, firing, now=at(0))
    drain(settings, 0)  # PagerDuty asks for 4 minutes
    enqueue(settings, resolved, now=at(1))
    for minute in range(1, 6):
        drain(settings, minute)

    sent = [r.json()["event_action"] for r in receiver.requests(PD) if r.status == 200]
    assert sent == ["trigger", "resolve"]
    hooked = [
        a["status"] for r in receiver.requests(HOOK) if r.status == 200 for a in r.json()["alerts"]
    ]
    assert hooked == ["firing", "resolved"]  # one grouped message, in order
    assert outbox(settings) == []


def test_the_messages_of_one_alert_due_together_are_sent_in_order(
    fs_settings: Callable[..., Settings], receiver: HttpReceiver
) -> None:
    settings = fs_settings({"pd": pd_receiver(receiver)})
    for i in range(10):
        enqueue(settings, alert(key=f"a{i}:firing", dedup_key=f"a{i}"), now=at(0))
        resolved = alert(key=f"a{i}:resolved", dedup_key=f"a{i}", status="resolved")
        enqueue(settings, resolved, now=at(0.5))

    drain(settings, 1)

    actions: dict[str, list[str]] = {}
    for request in receiver.requests(PD):
        body = request.json()
        actions.setdefault(body["dedup_key"], []).append(body["event_action"])
    assert actions == {f"a{i}": ["trigger", "resolve"] for i in range(10)}


def test_a_crash_between_send_and_mark_resends_with_the_same_key(
    fs_settings: Callable[..., Settings],
    receiver: HttpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = fs_settings({"hook": hook_receiver()})
    enqueue(settings, alert(), now=at(0))

    def crash(self: Any, name: str, items: Any) -> None:
        raise SystemExit("instance killed")

    with monkeypatch.context() as patch:
        patch.setattr(jobs._Drain, "_delivered", crash)
        with pytest.raises(SystemExit):
            drain(settings, 0)
    assert len(outbox(settings)) == 1  # sent, but not marked: still pending
    result = drain(settings, 5)

    keys = [r.header("Idempotency-Key") for r in receiver.requests(HOOK)]
    assert result.delivered == 1
    assert len(keys) == 2 and keys[0] == keys[1]
    assert outbox(settings) == []


def test_a_second_drain_skips_while_the_first_holds_the_lock(
    fs_settings: Callable[..., Settings],
) -> None:
    settings = fs_settings({"hook": hook_receiver()})
    db = firestore_client(settings)
    db.collection(Collections.LOCKS).document(jobs.LOCK_ID).set({"holder": "other", "until": at(2)})

    assert drain(settings, 1).skipped
    assert not drain(settings, 2).skipped  # the lease ran out


def test_dev_mode_sends_every_receiver_to_the_catchers(
    fs_settings: Callable[..., Settings], receiver: HttpReceiver, mailbox: MailCatcher
) -> None:
    settings = fs_settings(
        {
            "mail": {"kind": "email", "to": ["ops@example.com"]},
            "chat": {"kind": "slack", "url_env": "SOME_UNSET_VARIABLE"},
            "phone": {"kind": "sms", "to": ["+15550001234"]},
            "pd": {"kind": "pagerduty"},
            "hook": {"kind": "webhook"},
            "tail": {"kind": "apprise"},
        },
        dev_webhook_url=receiver.url,
    ).model_copy(update={"environment": "local"})

    enqueue(settings, alert(), now=at(0))
    result = drain(settings, 0)

    assert result.delivered == 6, result.errors
    paths = sorted(r.path.split("/")[1] for r in receiver.requests())
    assert paths == ["apprise", "pagerduty", "slack", "sms", "webhook"]
    assert len(mailbox.messages) == 1


def test_stored_documents_hold_no_secret(
    fs_settings: Callable[..., Settings], receiver: HttpReceiver
) -> None:
    settings = fs_settings({"chat": {"kind": "slack"}})
    receiver.respond_with(lambda method, path, body: Reply(500))

    enqueue(settings, alert(), now=at(0))
    drain(settings, 0)

    db = firestore_client(settings)
    stored = str([d.to_dict() for c in db.collections() for d in c.stream()])
    assert "slack answered HTTP 500" in stored
    assert SLACK_TOKEN not in stored and "s3cr3t" not in stored
