"""The message every sender (alerts, backups, maintenance, incidents) hands to delivery."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["Notification", "Severity", "Status"]

Severity = Literal["critical", "warning", "info"]
Status = Literal["firing", "resolved", "info"]


class Notification(BaseModel):
    """One logical message. ``key`` is its idempotency key: enqueueing the same key twice
    stores one notification, and receivers that support keys (PagerDuty's dedup key, Slack
    thread keys, webhook ``Idempotency-Key``) see one message even after a resend."""

    key: str = Field(min_length=1, max_length=500)
    # What ties the messages about one problem together (its firing, repeats and resolved
    # message, each with a key of its own): PagerDuty's dedup_key and the webhook's alert
    # fingerprint. ``None`` means the notification stands alone and ``key`` serves.
    dedup_key: str | None = Field(None, min_length=1, max_length=500)
    kind: Literal["alert", "report", "incident", "backup", "test", "system"] = "alert"
    status: Status = "firing"
    severity: Severity = "warning"
    title: str = Field(min_length=1, max_length=300)
    summary: str = ""
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    value: float | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    links: dict[str, str] = Field(default_factory=dict)
    # Extra facts shown in every channel, e.g. {"users affected": "412"}.
    fields: dict[str, str] = Field(default_factory=dict)
    # A pre-rendered HTML body (maintenance reports); channels that cannot show HTML use
    # ``description`` instead.
    html: str | None = None
    created_at: datetime
