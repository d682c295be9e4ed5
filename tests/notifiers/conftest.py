"""Fixtures for the notifier tests: a context that never sleeps, realistic notifications,
and settings for the Firestore emulator with a routing file made per test."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monitoring.config import Settings
from monitoring.localstack.catchers import MailCatcher
from monitoring.localstack.emulators import FirestoreEmulator
from monitoring.notifiers.context import Context
from monitoring.notifiers.model import Notification
from monitoring.notifiers.settings import NotifySettings
from monitoring.store import reset_clients
from tests.conftest import START, make_settings

SLACK_TOKEN = "T0AAA/B0BBB/s3cr3tSlackTokenXyZ"
TWILIO_TOKEN = "twilio-auth-s3cr3t-9d8c7b"
PD_KEY = "pd-routing-s3cr3t-R0uting"
HOOK_TOKEN = "hook-s3cr3t-tok3n-q1w2"
HMAC_SECRET = "hmac-s3cr3t-shared-key"
SMTP_PASSWORD = "smtp-s3cr3t-passw0rd"
SECRETS = [SLACK_TOKEN, TWILIO_TOKEN, PD_KEY, HOOK_TOKEN, HMAC_SECRET, SMTP_PASSWORD]


class Sleeps(list[float]):
    """Records the waits the retry loop asked for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def notify_settings(base_url: str, mail_port: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": mail_port,
        "slack_webhook_url": f"{base_url}/slack/{SLACK_TOKEN}",
        "twilio_account_sid": "AC0123456789",
        "twilio_auth_token": TWILIO_TOKEN,
        "twilio_from": "+15550001111",
        "pagerduty_routing_key": PD_KEY,
        "webhook_url": f"{base_url}/hook/{HOOK_TOKEN}",
        "webhook_secret": HMAC_SECRET,
        "timeout_s": 0.5,
        "backoff_base_s": 0.5,
    }
    values.update(overrides)
    return values


@pytest.fixture
def make_ctx(
    receiver: Any, mailbox: MailCatcher, sleeps: Sleeps
) -> Iterator[Callable[..., Context]]:
    client = httpx.Client()

    def build(**overrides: Any) -> Context:
        settings = NotifySettings(**notify_settings(receiver.url, mailbox.port, **overrides))
        return Context(settings=settings, sleep=sleeps, rng=random.Random(7), client=client)

    yield build
    client.close()


def alert(**changes: Any) -> Notification:
    values: dict[str, Any] = {
        "key": "rule:error_rate:env=prod:1",
        "title": "Error rate above 5%",
        "summary": "12.5% of requests failed in the last 5 minutes",
        "description": "The checkout API is failing.",
        "severity": "critical",
        "labels": {"env": "prod", "service": "checkout"},
        "value": 12.5,
        "links": {"Dashboard": "https://example.com/d/1"},
        "fields": {"users affected": "412"},
        "starts_at": START,
        "created_at": START,
    }
    values.update(changes)
    return Notification(**values)


def write_routing(path: Path, receivers: dict[str, Any], routes: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"receivers": receivers, "routes": routes}), encoding="utf-8")
    return path


@pytest.fixture
def fs_settings(
    firestore_emulator: FirestoreEmulator,
    monkeypatch: pytest.MonkeyPatch,
    receiver: Any,
    mailbox: MailCatcher,
    tmp_path: Path,
) -> Callable[..., Settings]:
    """Build emulator settings (Firestore emptied) with a routing file and notify values."""
    firestore_emulator.reset()
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)
    reset_clients()

    def build(
        receivers: dict[str, Any], routes: list[dict[str, Any]] | None = None, **notify: Any
    ) -> Settings:
        routes = routes or [{"receivers": list(receivers)}]
        alerts_file = write_routing(tmp_path / f"alerts-{len(receivers)}.yaml", receivers, routes)
        return make_settings(
            firestore_emulator,
            alerts_file=alerts_file,
            environment="production",
            notify=notify_settings(receiver.url, mailbox.port, **notify),
        )

    return build


def at(minutes: float) -> datetime:
    from datetime import timedelta

    return START + timedelta(minutes=minutes)
