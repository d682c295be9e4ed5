"""Notification delivery: pluggable notifiers behind a Firestore outbox.

``REGISTRY`` is the one table of channels: kind -> dotted path of the class, imported on
first use, so a function that never sends SMS never imports the SMS code (and nothing scans
for plug-ins). ``build_notifier`` turns a receiver from ``alerts.yaml`` into a notifier; in
local dev mode (``Context.dev_url``) it points every channel at the dev catchers instead.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitoring.notifiers.base import Notifier
    from monitoring.notifiers.context import Context
    from monitoring.notifiers.routing import ReceiverConfig

__all__ = ["REGISTRY", "build_notifier"]

REGISTRY: dict[str, str] = {
    "email": "monitoring.notifiers.email.EmailNotifier",
    "slack": "monitoring.notifiers.slack.SlackNotifier",
    "sms": "monitoring.notifiers.sms.SmsNotifier",
    "webhook": "monitoring.notifiers.webhook.WebhookNotifier",
    "pagerduty": "monitoring.notifiers.pagerduty.PagerDutyNotifier",
    "apprise": "monitoring.notifiers.apprise_adapter.AppriseNotifier",
}


def notifier_class(kind: str) -> Any:
    module, _, name = REGISTRY[kind].rpartition(".")
    return getattr(import_module(module), name)


def build_notifier(name: str, config: ReceiverConfig, ctx: Context) -> Notifier:
    """Return the notifier for receiver ``name``; in dev mode aimed at the catchers."""
    cls = notifier_class(config.kind)
    dev = ctx.dev_url.rstrip("/") if ctx.dev_url else None
    if dev is None or config.kind == "email":
        # E-mail in dev mode goes to the mail catcher through the SMTP settings it sets.
        notifier: Notifier = cls(name, config, ctx)
    elif config.kind in ("slack", "webhook"):
        notifier = cls(name, config, ctx, url=f"{dev}/{config.kind}/{name}")
    elif config.kind == "sms":
        creds = ("ACdev", "dev-token", "+15550000000")
        notifier = cls(name, config, ctx, api_base=f"{dev}/sms/{name}", credentials=creds)
    elif config.kind == "pagerduty":
        notifier = cls(name, config, ctx, events_url=f"{dev}/pagerduty/{name}", routing_key="dev")
    else:
        # Apprise's own json:// plug-in posts to the webhook catcher.
        notifier = cls(
            name, config, ctx, urls=dev.replace("http://", "json://") + f"/apprise/{name}"
        )
    return notifier
