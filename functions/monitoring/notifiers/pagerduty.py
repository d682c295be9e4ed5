"""PagerDuty Events API v2: trigger on firing, resolve with the same dedup key.

The dedup key is the notification's ``dedup_key``, which the alert evaluator keeps the same
for the firing, the reminders and the resolved message of one episode (their keys differ);
PagerDuty folds a resent trigger or a reminder into the open incident, so neither opens a
second one, and the resolve closes the incident the trigger opened.
https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import httpx

from monitoring.errors import DeliveryError
from monitoring.notifiers.base import Message, raise_unconfigured
from monitoring.notifiers.context import Context
from monitoring.notifiers.model import Notification
from monitoring.notifiers.routing import PagerDutyReceiver

__all__ = ["PagerDutyNotifier", "dedup_key"]

SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


def dedup_key(n: Notification) -> str:
    key = n.dedup_key or n.key
    # PagerDuty caps dedup keys at 255 characters; long keys are hashed.
    return key if len(key) <= 255 else hashlib.sha256(key.encode()).hexdigest()


def _classify(response: httpx.Response) -> DeliveryError | None:
    # 400 means the event is malformed or the routing key is wrong: a retry sends the same.
    if response.status_code in (400, 401, 403, 404):
        return DeliveryError(f"pagerduty answered HTTP {response.status_code}", permanent=True)
    return None


class PagerDutyNotifier:
    kind: ClassVar[str] = "pagerduty"
    supports_keys: ClassVar[bool] = True
    groups: ClassVar[bool] = False

    def __init__(
        self,
        name: str,
        config: PagerDutyReceiver,
        ctx: Context,
        *,
        events_url: str | None = None,
        routing_key: str | None = None,
    ) -> None:
        self.name = name
        self.key_env = config.routing_key_env
        self.events_url = events_url or config.events_url
        self.routing_key = routing_key or ctx.secret(config.routing_key_env)
        self.transport = ctx.transport("pagerduty")
        self.transport.classify = _classify

    def describe(self) -> str:
        return f"pagerduty events v2 with key from ${self.key_env}" + (
            "" if self.routing_key else " (not set)"
        )

    def event(self, n: Notification) -> dict[str, Any]:
        action = "resolve" if n.status == "resolved" else "trigger"
        event: dict[str, Any] = {
            "routing_key": self.routing_key,
            "event_action": action,
            "dedup_key": dedup_key(n),
        }
        if action == "trigger":
            details: dict[str, Any] = {**n.fields, "labels": n.labels}
            if n.value is not None:
                details["value"] = n.value
            if n.description:
                details["description"] = n.description
            event["payload"] = {
                "summary": (n.title + (f": {n.summary}" if n.summary else ""))[:1024],
                "source": n.labels.get("source", "firewatch"),
                "severity": SEVERITY[n.severity],
                "component": n.labels.get("component"),
                "group": n.labels.get("group"),
                "class": n.kind,
                "custom_details": details,
            }
            event["links"] = [{"href": href, "text": text} for text, href in n.links.items()]
        return event

    def send(self, message: Message) -> None:
        if not self.routing_key:
            raise raise_unconfigured("pagerduty", f"${self.key_env}")
        for n in message.notifications:
            self.transport.post(self.events_url, json=self.event(n))
