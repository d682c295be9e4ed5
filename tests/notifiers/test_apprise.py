"""The Apprise adapter, through Apprise's own json:// plug-in posting to a real receiver."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from monitoring.errors import DeliveryError
from monitoring.localstack.catchers import HttpReceiver, Reply
from monitoring.notifiers import build_notifier
from monitoring.notifiers.base import Message
from monitoring.notifiers.context import Context
from monitoring.notifiers.routing import AppriseReceiver
from tests.notifiers.conftest import Sleeps, alert

TOKEN = "apprise-s3cr3t-path-token"


def notifier(ctx: Context, receiver: HttpReceiver):  # type: ignore[no-untyped-def]
    urls = receiver.url.replace("http://", "json://") + f"/tail/{TOKEN}"
    ctx.settings = ctx.settings.model_copy(update={"apprise_urls": urls})
    return build_notifier("tail", AppriseReceiver(kind="apprise"), ctx)


def test_it_sends_title_and_body_through_apprise(
    make_ctx: Callable[..., Context], receiver: HttpReceiver
) -> None:
    notifier(make_ctx(), receiver).send(Message(key="k", notifications=[alert()]))

    [request] = receiver.requests(f"/tail/{TOKEN}")
    body = request.json()
    assert body["title"] == "[FIRING] Error rate above 5%"
    assert "Value: 12.5" in body["message"]


def test_it_retries_then_fails_without_leaking_the_url(
    make_ctx: Callable[..., Context],
    receiver: HttpReceiver,
    sleeps: Sleeps,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.respond_with(lambda method, path, body: Reply(500))
    sender = notifier(make_ctx(), receiver)

    with pytest.raises(DeliveryError, match="apprise could not deliver") as raised:
        sender.send(Message(key="k", notifications=[alert()]))

    assert len(receiver.requests()) == 3 and len(sleeps) == 2
    assert not raised.value.permanent
    assert TOKEN not in str(raised.value) + sender.describe() + caplog.text
    assert sender.describe() == "apprise (json) from $FIREWATCH_NOTIFY__APPRISE_URLS"


def test_an_unparseable_url_is_permanent(
    make_ctx: Callable[..., Context], receiver: HttpReceiver
) -> None:
    ctx = make_ctx(apprise_urls=f"nosuchscheme://{TOKEN}")
    sender = build_notifier("tail", AppriseReceiver(kind="apprise"), ctx)

    with pytest.raises(DeliveryError) as raised:
        sender.send(Message(key="k", notifications=[alert()]))

    assert raised.value.permanent and TOKEN not in str(raised.value)
