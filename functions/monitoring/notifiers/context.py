"""What a notifier needs from outside: settings, secrets, templates, time and HTTP."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from pydantic import SecretStr

from monitoring.logs import register_secrets
from monitoring.notifiers.http import HttpTransport, RetryPolicy
from monitoring.notifiers.ledger import MemoryLedger, SentLedger
from monitoring.notifiers.render import Renderer, renderer
from monitoring.notifiers.settings import NotifySettings

__all__ = ["Context"]

PREFIX = "FIREWATCH_NOTIFY__"
UNSET = "unset"


@dataclass
class Context:
    settings: NotifySettings = field(default_factory=NotifySettings)
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    client: httpx.Client | None = None
    # Set in local mode: every receiver is sent to the dev catchers instead (see jobs).
    dev_url: str | None = None
    timeout_s: float | None = None
    # Recipients already reached, for channels without idempotency keys (SMS).
    ledger: SentLedger = field(default_factory=MemoryLedger)

    @property
    def renderer(self) -> Renderer:
        return renderer(self.settings.templates_dir)

    @property
    def policy(self) -> RetryPolicy:
        s = self.settings
        return RetryPolicy(attempts=s.call_attempts, base_s=s.backoff_base_s, cap_s=s.backoff_cap_s)

    def transport(self, channel: str) -> HttpTransport:
        return HttpTransport(
            channel,
            timeout_s=self.timeout_s or self.settings.timeout_s,
            policy=self.policy,
            sleep=self.sleep,
            rng=self.rng,
            client=self.client,
        )

    def secret(self, env_name: str) -> str | None:
        """Return the secret in ``env_name``, registered with the log redactor, or None.

        ``FIREWATCH_NOTIFY__X`` names are read from settings (which also read ``.env``
        files); any other name from the process environment.
        """
        value: str | None = None
        field_name = env_name.removeprefix(PREFIX).lower()
        if env_name.startswith(PREFIX) and field_name in NotifySettings.model_fields:
            raw = getattr(self.settings, field_name)
            value = raw.get_secret_value() if isinstance(raw, SecretStr) else raw
        else:
            value = os.environ.get(env_name)
        # A deployed function must be given every declared secret; "unset" marks one the
        # operator does not use.
        if not value or value.strip().lower() == UNSET:
            return None
        register_secrets([value])
        return value
