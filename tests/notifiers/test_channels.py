"""Every HTTP channel answers the same list: it sends; it renders resolved alerts; it
retries on 5xx; it honours Retry-After; it stops on a permanent error; it survives a hang
and a closed port; it leaks no secret. The receiver is a real HTTP server on loopback."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from monitoring.errors import DeliveryError
from monitoring.localstack.catchers import HttpReceiver, ReceivedRequest, Reply
from monitoring.localstack.emulators import free_port
from monitoring.notifiers import build_notifier
from monitoring.notifiers.base import Message, Notifier
from monitoring.notifiers.context import Context
from monitoring.notifiers.routing import (
    PagerDutyReceiver,
    SlackReceiver,
    SmsReceiver,
    WebhookReceiver,
)
from monitoring.notifiers.webhook import sign
from tests.notifiers.conftest import (
    HMAC_SECRET,
    HOOK_TOKEN,
    PD_KEY,
    SECRETS,
    SLACK_TOKEN,
    TWILIO_TOKEN,
    Sleeps,
    alert,
)


@dataclass(frozen=True)
class Channel:
    kind: str
    config: Any
    path: str
    # A permanent failure as this vendor answers it.
    permanent: Reply
    # The text a person would read, pulled out of the request.
    text: Callable[[ReceivedRequest], str]


def _slack_text(request: ReceivedRequest) -> str:
    body = request.json()
    return f"{body['text']} {body['attachments']}"


def _sms_text(request: ReceivedRequest) -> str:
    from urllib.parse import parse_qs

    return parse_qs(request.body.decode())["Body"][0]


CHANNELS = [
    Channel(
        "slack",
        SlackReceiver(kind="slack"),
        f"/slack/{SLACK_TOKEN}",
        Reply(404, body="no_service"),
        _slack_text,
    ),
    Channel(
        "sms",
        SmsReceiver(kind="sms", to=["+15557654321"], api_base="{base}"),
        "/2010-04-01/Accounts/AC0123456789/Messages.json",
        Reply(400, body={"code": 21211, "message": "invalid To"}),
        _sms_text,
    ),
    Channel(
        "pagerduty",
        PagerDutyReceiver(kind="pagerduty", events_url="{base}/v2/enqueue"),
        "/v2/enqueue",
        Reply(400, body={"status": "invalid event"}),
        lambda r: r.json()["event_action"] + " " + str(r.json().get("payload", "")),
    ),
    Channel(
        "webhook",
        WebhookReceiver(kind="webhook", secret_env="FIREWATCH_NOTIFY__WEBHOOK_SECRET"),
        f"/hook/{HOOK_TOKEN}",
        Reply(404),
        lambda r: str(r.json()),
    ),
]
IDS = [c.kind for c in CHANNELS]


def make(channel: Channel, ctx: Context, receiver: HttpReceiver) -> Notifier:
    config = channel.config
    for name in ("api_base", "events_url"):
        if hasattr(config, name):
            config = config.model_copy(
                update={name: getattr(config, name).replace("{base}", receiver.url)}
            )
    return build_notifier(f"test-{channel.kind}", config, ctx)


def message(**changes: Any) -> Message:
    n = alert(**changes)
    return Message(key="outbox-1", notifications=[n], receiver="test")


@pytest.mark.parametrize("channel", CHANNELS, ids=IDS)
def test_it_sends_the_alert_title_and_value(
    channel: Channel, make_ctx: Callable[..., Context], receiver: HttpReceiver
) -> None:
    make(channel, make_ctx(), receiver).send(message())

    [request] = receiver.requests(channel.path)
    assert request.status == 200
    text = channel.text(request)
    assert "Error rate above 5%" in text
    assert "12.5" in text


@pytest.mark.parametrize("channel", CHANNELS, ids=IDS)
def test_a_large_value_is_written_out_not_in_scientific_notation(
    channel: Channel, make_ctx: Callable[..., Context], receiver: HttpReceiver
) -> None:
    make(channel, make_ctx(), receiver).send(message(value=1234567.0, fields={}))

    text = channel.text(receiver.requests(channel.path)[0])
    assert "e+06" not in text
    assert "1,234,567" in text or "1234567" in text


@pytest.mark.parametrize("channel", CHANNELS, ids=IDS)
def test_it_renders_resolved_differently_from_firing(
    channel: Channel, make_ctx: Callable[..., Context], receiver: HttpReceiver
) -> None:
    notifier = make(channel, make_ctx(), receiver)
    notifier.send(message())
    notifier.send(message(status="resolved"))

    firing, resolved = (channel.text(r) for r in receiver.requests(channel.path))
    assert firing != resolved
    assert "resolve" in resolved.lower()
    assert "resolve" not in firing.lower()


@pytest.mark.parametrize("channel", CHANNELS, ids=IDS)
def test_it_retries_on_5xx_with_growing_backoff(
    channel: Channel, make_ctx: Callable[..., Context], receiver: HttpReceiver, sleeps: Sleeps
) -> None:
    receiver.script(channel.path, Reply(500), Reply(502))

    make(channel, make_ctx(), receiver).send(message())

    assert [r.status for r in receiver.requests(channel.path)] == [500, 502, 200]
    assert len(sleeps) == 2
    # Full jitter: each wait is at most base * 2**attempt.
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("channel", CHANNELS, ids=IDS)
def test_it_waits_as_long_as_retry_after_says(
    channel: Channel,
    status: int,
    make_ctx: Callable[..., Context],
    receiver: HttpReceiver,
    sleeps: Sleeps,
) -> None:
    receiver.script(channel.path, Reply(status, headers={"Retry-After": "3"}))

    make(channel, make_ctx(), receiver).send(message())

    assert sleeps == [3.0]
    assert [r.status for r in receiver.requests(channel.path)] == [status, 200]


@pytest.mark.parametrize("channel", CHANNELS, ids=IDS)
def test_a_long_retry_after_is_handed_to_the_outbox_without_waiting(
    channel: Channel, make_ctx: Callable[..., Context], receiver: HttpReceiver, sleeps: Sleeps
) -> None:
    receiver.script(channel.path, Reply(429, headers={"Retry-After": "120"}))

    with pytest.raises(DeliveryError) as raised:
        make(channel, make_ctx(), receiver).send(message())

    assert raised.value.retry_after == 120.0
    assert not raised.value.permanent
    assert sleeps == []


@pytest.mark.parametrize("channel", CHANNELS, ids=IDS)
def test_it_stops_at_once_on_a_permanent_error(
    channel: Channel, make_ctx: Callable[..., Context], receiver: HttpReceiver, sleeps: Sleeps
) -> None:
    receiver.script(channel.path, channel.permanent)

    with pytest.raises(DeliveryError) as raised:
        make(channel, make_ctx(), receiver).send(message())

    assert raised.value.permanent
    assert str(channel.permanent.status) in str(raised.value)
    assert len(receiver.requests(channel.path)) == 1
    assert sleeps == []


@pytest.mark.parametrize("channel", CHANNELS, ids=IDS)
def test_a_hang_past_the_timeout_is_a_retryable_failure(
    channel: Channel, make_ctx: Callable[..., Context], receiver: HttpReceiver
) -> None:
    receiver.script(channel.path, Reply(hang=True), Reply(hang=True))

    with pytest.raises(DeliveryError) as raised:
        make(channel, make_ctx(timeout_s=0.2, call_attempts=2), receiver).send(message())

    assert "did not answer within 0.2 s" in str(raised.value)
    assert not raised.value.permanent


@pytest.mark.parametrize("channel", CHANNELS, ids=IDS)
def test_a_closed_port_is_a_retryable_failure(
    channel: Channel, make_ctx: Callable[..., Context], receiver: HttpReceiver, sleeps: Sleeps
) -> None:
    closed = HttpReceiver(port=free_port())  # never started: nothing listens there
    ctx = make_ctx(
        slack_webhook_url=f"{closed.url}/slack/{SLACK_TOKEN}",
        webhook_url=f"{closed.url}/hook/{HOOK_TOKEN}",
    )

    with pytest.raises(DeliveryError) as raised:
        make(channel, ctx, closed).send(message())

    assert "could not be reached" in str(raised.value)
    assert not raised.value.permanent
    assert len(sleeps) == 2


@pytest.mark.parametrize("channel", CHANNELS, ids=IDS)
def test_it_leaks_no_secret_in_logs_errors_or_description(
    channel: Channel,
    make_ctx: Callable[..., Context],
    receiver: HttpReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.script(channel.path, Reply(500), Reply(500), channel.permanent)
    notifier = make(channel, make_ctx(), receiver)

    with pytest.raises(DeliveryError) as raised:
        notifier.send(message())

    said = caplog.text + str(raised.value) + notifier.describe() + repr(notifier.describe())
    assert caplog.records, "the retries should have been logged"
    assert not [s for s in SECRETS if s in said]


def test_sms_is_cut_to_fit_and_has_no_html(
    make_ctx: Callable[..., Context], receiver: HttpReceiver
) -> None:
    sms = CHANNELS[1]
    config = sms.config.model_copy(update={"api_base": receiver.url, "max_chars": 60})
    notifier = build_notifier("sms", config, make_ctx())

    notifier.send(message(summary="x" * 500, html="<b>bold</b>"))

    text = sms.text(receiver.requests(sms.path)[0])
    assert len(text) == 60 and text.endswith("x...")
    assert "<" not in text


def test_sms_keeps_to_gsm_7_so_two_segments_stay_two(
    make_ctx: Callable[..., Context], receiver: HttpReceiver
) -> None:
    sms = CHANNELS[1]
    config = sms.config.model_copy(update={"api_base": receiver.url})
    notifier = build_notifier("sms", config, make_ctx())
    summary = "Checkout\u00a0API \u2013 \u201cpayments\u201d can\u2019t reach the bank\u2026 " * 20

    notifier.send(message(summary=summary))

    text = sms.text(receiver.requests(sms.path)[0])
    # One character outside GSM-7 (the ellipsis, a curly quote) bills 67 characters a segment.
    assert text.isascii()
    assert len(text) == 306 and text.endswith("...")
    assert 'API - "payments" can\'t reach the bank... Checkout' in text


def test_sms_authenticates_with_the_account_sid_and_token(
    make_ctx: Callable[..., Context], receiver: HttpReceiver
) -> None:
    sms = CHANNELS[1]
    make(sms, make_ctx(), receiver).send(message())

    header = receiver.requests(sms.path)[0].header("Authorization") or ""
    assert base64.b64decode(header.removeprefix("Basic ")).decode() == (
        f"AC0123456789:{TWILIO_TOKEN}"
    )


def test_pagerduty_resolve_uses_the_trigger_dedup_key(
    make_ctx: Callable[..., Context], receiver: HttpReceiver
) -> None:
    pd = CHANNELS[2]
    notifier = make(pd, make_ctx(), receiver)
    notifier.send(message())
    notifier.send(message(status="resolved"))

    trigger, resolve = (r.json() for r in receiver.requests(pd.path))
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"] == "rule:error_rate:env=prod:1"
    assert trigger["routing_key"] == PD_KEY
    assert trigger["payload"]["severity"] == "critical"


def test_webhook_body_follows_alertmanager_format_and_is_signed(
    make_ctx: Callable[..., Context], receiver: HttpReceiver
) -> None:
    hook = CHANNELS[3]
    make(hook, make_ctx(), receiver).send(message())

    request = receiver.requests(hook.path)[0]
    body = request.json()
    assert body["version"] == "4" and body["status"] == "firing"
    assert body["alerts"][0]["labels"] == {
        "alertname": "Error rate above 5%",
        "severity": "critical",
        "env": "prod",
        "service": "checkout",
    }
    assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert request.header("Idempotency-Key") == "outbox-1"
    assert request.header("X-Firewatch-Signature") == sign(HMAC_SECRET, request.body)


def test_slack_resolved_message_is_green_and_firing_red(
    make_ctx: Callable[..., Context], receiver: HttpReceiver
) -> None:
    slack = CHANNELS[0]
    notifier = make(slack, make_ctx(), receiver)
    notifier.send(message())
    notifier.send(message(status="resolved"))

    firing, resolved = (r.json()["attachments"][0] for r in receiver.requests(slack.path))
    assert (firing["color"], resolved["color"]) == ("#d00000", "#2eb886")
    assert ":rotating_light:" in str(firing["blocks"])
    assert ":white_check_mark:" in str(resolved["blocks"])


def test_an_unconfigured_channel_fails_permanently_naming_the_variable(
    make_ctx: Callable[..., Context], receiver: HttpReceiver
) -> None:
    notifier = make(CHANNELS[0], make_ctx(slack_webhook_url=None), receiver)

    with pytest.raises(DeliveryError, match="FIREWATCH_NOTIFY__SLACK_WEBHOOK_URL") as raised:
        notifier.send(message())

    assert raised.value.permanent


def test_slack_escapes_markup_in_alert_text(
    make_ctx: Callable[..., Context], receiver: HttpReceiver
) -> None:
    slack = CHANNELS[0]
    make(slack, make_ctx(), receiver).send(message(title="p99 > 2s <b>&</b>"))

    blocks = str(receiver.requests(slack.path)[0].json()["attachments"][0]["blocks"])
    assert "p99 &gt; 2s &lt;b&gt;&amp;&lt;/b&gt;" in blocks


def test_sms_retry_texts_only_the_numbers_still_owed(
    make_ctx: Callable[..., Context], receiver: HttpReceiver
) -> None:
    sms = CHANNELS[1]
    numbers = ["+15550000001", "+15550000002", "+15550000003"]
    config = sms.config.model_copy(update={"api_base": receiver.url, "to": numbers})
    ctx = make_ctx(call_attempts=1)
    notifier = build_notifier("sms", config, ctx)
    # The second number fails (503), then the retry of the whole message goes through.
    receiver.script(sms.path, Reply(201), Reply(503), Reply(201), Reply(201))

    with pytest.raises(DeliveryError):
        notifier.send(message())
    notifier.send(message())

    from urllib.parse import parse_qs

    sent_to = [parse_qs(r.body.decode())["To"][0] for r in receiver.requests(sms.path)]
    assert sent_to == [numbers[0], numbers[1], numbers[1], numbers[2]]


def test_a_value_the_evaluator_formatted_is_shown_once(
    make_ctx: Callable[..., Context],
) -> None:
    text = make_ctx().renderer.render("text.j2", message(value=2500.0, fields={"value": "2,500"}))

    assert text.count("2,500") == 1 and "Value:" not in text


def test_a_resolved_message_leaves_out_the_description_of_the_problem(
    make_ctx: Callable[..., Context],
) -> None:
    described = {"description": "More than half of API requests return 5xx."}
    firing = make_ctx().renderer.render("text.j2", message(**described))
    resolved = make_ctx().renderer.render("text.j2", message(status="resolved", **described))

    assert "More than half" in firing
    assert "More than half" not in resolved
