"""`firewatch notify` as an operator uses it: test a receiver, list receivers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitoring.cli import app
from monitoring.localstack.catchers import HttpReceiver, Reply
from tests.conftest import REPO
from tests.notifiers.conftest import SLACK_TOKEN, write_routing

SLACK = f"/slack/{SLACK_TOKEN}"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, receiver: HttpReceiver, tmp_path: Path) -> None:
    receivers = {
        "chat": {"kind": "slack", "fallback": "mail"},
        "mail": {"kind": "email", "to": ["alice@example.com"]},
    }
    alerts_file = write_routing(tmp_path / "alerts.yaml", receivers, [{"receivers": ["chat"]}])
    monkeypatch.setenv("FIREWATCH_ALERTS_FILE", str(alerts_file))
    monkeypatch.setenv("FIREWATCH_ENVIRONMENT", "production")
    monkeypatch.setenv("FIREWATCH_NOTIFY__SLACK_WEBHOOK_URL", receiver.url + SLACK)
    monkeypatch.setenv("FIREWATCH_NOTIFY__TIMEOUT_S", "0.5")
    monkeypatch.setenv("FIREWATCH_NOTIFY__CALL_ATTEMPTS", "1")
    monkeypatch.chdir(REPO / "tests")  # no stray .env in the working directory


def test_notify_test_sends_a_test_message_and_reports_success(
    cli_env: None, receiver: HttpReceiver
) -> None:
    result = CliRunner().invoke(app, ["notify", "test", "chat", "--json"])

    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output)
    assert outcome["ok"] is True and outcome["kind"] == "slack"
    [request] = receiver.requests(SLACK)
    assert "Firewatch test message for chat" in request.json()["text"]


def test_notify_test_reports_a_failure_without_the_webhook_url(
    cli_env: None, receiver: HttpReceiver
) -> None:
    receiver.script(SLACK, Reply(404, body="no_service"))

    result = CliRunner().invoke(app, ["notify", "test", "chat"])

    assert result.exit_code == 1
    assert "failed chat: slack answered HTTP 404" in result.output
    assert SLACK_TOKEN not in result.output


def test_notify_test_of_an_unknown_receiver_is_a_usage_error(cli_env: None) -> None:
    result = CliRunner().invoke(app, ["notify", "test", "pager"])

    assert result.exit_code == 2
    assert "no receiver named 'pager'" in result.output
    assert "known: chat, mail" in result.output


def test_notify_receivers_lists_them_with_secrets_masked(cli_env: None) -> None:
    result = CliRunner().invoke(app, ["notify", "receivers", "--json"])

    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)["receivers"]}
    assert rows["chat"]["fallback"] == "mail"
    assert "al***@example.com" in rows["mail"]["target"]
    assert SLACK_TOKEN not in result.output and "alice@" not in result.output
