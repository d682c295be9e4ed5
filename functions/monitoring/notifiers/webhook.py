"""A generic webhook whose JSON body follows Alertmanager's webhook format (version 4).

Receivers written for Alertmanager (and tools such as Grafana OnCall that accept it) work
unchanged. The body is::

    {"version": "4", "groupKey": "<idempotency key>", "truncatedAlerts": 0,
     "status": "firing" | "resolved", "receiver": "<receiver name>",
     "groupLabels": {}, "commonLabels": {...}, "commonAnnotations": {...},
     "externalURL": "", "alerts": [
        {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
         "fingerprint"}]}

Firewatch adds ``labels.alertname`` (the title), ``labels.severity``, and the summary,
description and value as annotations. Headers: ``Idempotency-Key`` (the same on a resend, so
the receiver can drop duplicates) and, when a secret is set,
``X-Firewatch-Signature: sha256=<hex HMAC-SHA256 of the raw body>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, ClassVar

from monitoring.notifiers.base import Message, raise_unconfigured
from monitoring.notifiers.context import Context
from monitoring.notifiers.model import Notification
from monitoring.notifiers.routing import WebhookReceiver

__all__ = ["SIGNATURE_HEADER", "WebhookNotifier", "sign"]

SIGNATURE_HEADER = "X-Firewatch-Signature"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "not set"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


def _alert(n: Notification) -> dict[str, Any]:
    labels = {"alertname": n.title, "severity": n.severity, **n.labels}
    annotations = dict(n.annotations)
    for name in ("summary", "description"):
        if getattr(n, name):
            annotations.setdefault(name, getattr(n, name))
    if n.value is not None:
        # For programs: 15 significant digits, all a decimal value keeps through a float, yet
        # 0.1 + 0.2 stays 0.3 (%g kept 6, so 1234567 arrived as 1.23457e+06).
        annotations.setdefault("value", f"{n.value:.15g}")
    return {
        "status": "resolved" if n.status == "resolved" else "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": (n.starts_at or n.created_at).isoformat().replace("+00:00", "Z"),
        "endsAt": n.ends_at.isoformat().replace("+00:00", "Z") if n.ends_at else ZERO_TIME,
        "generatorURL": next(iter(n.links.values()), ""),
        # One alert's firing and resolved entries carry the same fingerprint, as in
        # Alertmanager, so a receiver can match the one to the other.
        "fingerprint": hashlib.sha256((n.dedup_key or n.key).encode()).hexdigest()[:16],
    }


class WebhookNotifier:
    kind: ClassVar[str] = "webhook"
    supports_keys: ClassVar[bool] = True
    groups: ClassVar[bool] = True

    def __init__(
        self, name: str, config: WebhookReceiver, ctx: Context, url: str | None = None
    ) -> None:
        self.name = name
        self.url_env = config.url_env
        self.url = url or ctx.secret(config.url_env)
        self.secret = ctx.secret(config.secret_env) if config.secret_env else None
        self.transport = ctx.transport("webhook")

    def describe(self) -> str:
        signed = ", signed" if self.secret else ""
        return f"webhook from ${self.url_env}{signed}" + ("" if self.url else " (not set)")

    def payload(self, message: Message) -> dict[str, Any]:
        alerts = [_alert(n) for n in message.notifications]
        return {
            "version": "4",
            "groupKey": message.key,
            "truncatedAlerts": 0,
            "status": message.status if message.status == "resolved" else "firing",
            "receiver": message.receiver,
            "groupLabels": {},
            "commonLabels": _common([a["labels"] for a in alerts]),
            "commonAnnotations": _common([a["annotations"] for a in alerts]),
            "externalURL": "",
            "alerts": alerts,
        }

    def send(self, message: Message) -> None:
        if not self.url:
            raise raise_unconfigured("webhook", f"${self.url_env}")
        body = json.dumps(self.payload(message), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.key}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        self.transport.post(self.url, content=body, headers=headers)
