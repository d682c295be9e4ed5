"""Operator-overridable templates, secret masking in settings, and secret resolution."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from monitoring.errors import ConfigError
from monitoring.localstack.catchers import MailCatcher
from monitoring.notifiers import build_notifier
from monitoring.notifiers.base import Message
from monitoring.notifiers.context import Context
from monitoring.notifiers.routing import EmailReceiver, SlackReceiver
from monitoring.notifiers.settings import NotifySettings
from tests.notifiers.conftest import SECRETS, SLACK_TOKEN, alert


def test_an_operator_template_replaces_the_built_in_one(
    make_ctx: Callable[..., Context], mailbox: MailCatcher, tmp_path: Path
) -> None:
    (tmp_path / "subject.j2").write_text("ACME {{ n.severity|upper }}: {{ n.title }}")

    config = EmailReceiver(kind="email", to=["ops@example.com"])
    notifier = build_notifier("mail", config, make_ctx(templates_dir=tmp_path))
    notifier.send(Message(key="k", notifications=[alert()]))

    [mail] = mailbox.messages
    assert mail.subject == "ACME CRITICAL: Error rate above 5%"
    assert "Value: 12.5" in mail.text()  # the other templates are still the built-in ones


def test_a_broken_operator_template_names_the_template(
    make_ctx: Callable[..., Context], tmp_path: Path
) -> None:
    (tmp_path / "subject.j2").write_text("{{ n.nope.deeper }}")
    notifier = build_notifier(
        "mail", EmailReceiver(kind="email", to=["a@b.c"]), make_ctx(templates_dir=tmp_path)
    )

    with pytest.raises(ConfigError, match=r"notification template subject\.j2"):
        notifier.send(Message(key="k", notifications=[alert()]))


def test_settings_repr_and_dump_mask_every_credential(make_ctx: Callable[..., Context]) -> None:
    settings = make_ctx().settings

    shown = repr(settings) + str(settings.model_dump())

    assert not [s for s in SECRETS if s in shown]
    assert "**********" in shown


def test_a_secret_set_to_unset_counts_as_missing(make_ctx: Callable[..., Context]) -> None:
    ctx = make_ctx(slack_webhook_url="unset")

    notifier = build_notifier("chat", SlackReceiver(kind="slack"), ctx)

    assert notifier.describe().endswith("(not set)")


def test_a_receiver_may_read_its_secret_from_any_variable(
    make_ctx: Callable[..., Context], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEAM_B_SLACK", f"http://127.0.0.1:9/slack/{SLACK_TOKEN}")

    notifier = build_notifier("b", SlackReceiver(kind="slack", url_env="TEAM_B_SLACK"), make_ctx())

    assert notifier.describe() == "slack webhook from $TEAM_B_SLACK"
    assert SLACK_TOKEN not in notifier.describe()


def test_the_templates_dir_must_exist() -> None:
    from monitoring.notifiers.render import Renderer

    with pytest.raises(ConfigError, match="FIREWATCH_NOTIFY__TEMPLATES_DIR"):
        Renderer(Path("/nonexistent/templates"))


def test_defaults_point_at_a_local_mail_catcher() -> None:
    settings = NotifySettings()

    assert (settings.smtp_host, settings.smtp_port, settings.smtp_security) == (
        "127.0.0.1",
        1025,
        "none",
    )


@pytest.mark.parametrize(
    ("environment", "catch_all", "expected"),
    [("local", None, True), ("production", None, False), ("local", False, False)],
    ids=["local-default", "production", "switched-off"],
)
def test_the_dev_catchers_url_from_firewatch_dev_is_used_only_locally(
    monkeypatch: pytest.MonkeyPatch, environment: str, catch_all: bool | None, expected: bool
) -> None:
    from monitoring.config import load_settings
    from monitoring.notifiers.jobs import context_for

    monkeypatch.setenv("FIREWATCH_DEV_WEBHOOK_URL", "http://127.0.0.1:4321")
    settings = load_settings(
        _env_file=None, environment=environment, notify={"dev_catch_all": catch_all}
    )

    ctx = context_for(settings)

    assert ctx.dev_url == ("http://127.0.0.1:4321" if expected else None)
