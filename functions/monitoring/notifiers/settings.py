"""``FIREWATCH_NOTIFY__*``: SMTP, channel credentials and delivery policy.

Receivers in ``alerts.yaml`` name the environment variables that hold their secrets
(``url_env: FIREWATCH_NOTIFY__SLACK_WEBHOOK_URL``); the variables below are the defaults
they fall back to, and the names ``main.py`` declares as ``SecretParam``s.
"""

from __future__ import annotations

from typing import Literal

from pydantic import DirectoryPath, Field, FilePath, SecretStr

from monitoring.validation import EmailAddress, PhoneNumber, SettingsModel


class NotifySettings(SettingsModel):
    """``FIREWATCH_NOTIFY__*``: SMTP and channel credentials used by receivers."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(1025, gt=0, lt=65536)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    # A CA bundle to trust for the SMTP server's certificate (a private relay); the system's
    # trust store otherwise.
    smtp_ca_file: FilePath | None = None
    mail_from: EmailAddress = "Firewatch <firewatch@localhost>"
    # One SMTP or HTTP call; at most a minute, the longest a delivery drain runs (55 s).
    timeout_s: float = Field(10.0, gt=0, le=60)

    slack_webhook_url: SecretStr | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    # The sender number, E.164 (+15550001111); Twilio refuses anything else at the first SMS.
    twilio_from: PhoneNumber | None = None
    pagerduty_routing_key: SecretStr | None = None
    webhook_url: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    apprise_urls: SecretStr | None = None

    # Delivery policy. One drain makes ``call_attempts`` tries per message (short backoff);
    # a receiver that still fails is retried on later drains until ``max_attempts`` drains
    # have failed, then dead-lettered and failed over to its fallback. The backoff sleeps
    # inside one drain, so it is at most a minute; the delay between drains doubles per
    # attempt up to an hour, so its base is at most an hour.
    call_attempts: int = Field(3, ge=1, le=10)
    backoff_base_s: float = Field(0.5, ge=0, le=60)
    backoff_cap_s: float = Field(4.0, ge=0, le=60)
    max_attempts: int = Field(6, ge=1, le=50)
    retry_delay_s: float = Field(60.0, ge=0, le=3600)
    workers: int = Field(8, ge=1, le=64)
    batch_size: int = Field(1000, ge=1, le=5000)
    # How long a drain that died holds the lock; at most an hour, the longest a function runs.
    lease_s: float = Field(120.0, gt=0, le=3600)
    rate_limit_per_minute: int = Field(20, ge=1)
    group_max: int = Field(100, ge=1)

    templates_dir: DirectoryPath | None = Field(
        None, description="An existing folder whose *.j2 files replace the built-in templates."
    )
    # The dev webhook catcher; ``firewatch dev`` exports it as FIREWATCH_DEV_WEBHOOK_URL, which
    # is read when this is unset. With ``dev_catch_all`` unset, every receiver is sent to the
    # catchers whenever a URL is known and the environment is local.
    dev_webhook_url: str | None = None
    dev_catch_all: bool | None = None
