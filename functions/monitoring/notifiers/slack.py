"""Slack incoming webhooks, laid out with Block Kit.

Firing messages lead with a red (critical) or amber (warning) bar and a siren; resolved ones
with a green bar and a check mark, so the two are told apart at a glance. The webhook URL is
the credential: it is never logged and errors say only "slack answered HTTP 404".
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

import httpx

from monitoring.errors import DeliveryError
from monitoring.notifiers.base import Message, raise_unconfigured
from monitoring.notifiers.context import Context
from monitoring.notifiers.model import Notification
from monitoring.notifiers.render import colour, number, status_word
from monitoring.notifiers.routing import SlackReceiver

__all__ = ["SlackNotifier"]

ICONS = {"resolved": ":white_check_mark:", "critical": ":rotating_light:", "warning": ":warning:"}
MAX_BLOCKS = 45  # Slack refuses more than 50 blocks in a message.


def escape(text: str) -> str:
    """Return ``text`` safe inside mrkdwn: Slack reads <, > and & as markup.
    https://api.slack.com/reference/surfaces/formatting#escaping"""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _icon(n: Notification) -> str:
    return ICONS["resolved"] if n.status == "resolved" else ICONS.get(n.severity, ":bell:")


def _classify(response: httpx.Response) -> DeliveryError | None:
    # Slack answers 404 no_service / 403 invalid_token / 410 channel_is_archived for a
    # webhook that will never work again: https://api.slack.com/messaging/webhooks#handling_errors
    if response.status_code in (400, 403, 404, 410):
        reason = response.text[:40].strip() or "error"
        return DeliveryError(
            f"slack answered HTTP {response.status_code} ({reason})", permanent=True
        )
    return None


class SlackNotifier:
    kind: ClassVar[str] = "slack"
    supports_keys: ClassVar[bool] = False
    groups: ClassVar[bool] = True

    def __init__(
        self, name: str, config: SlackReceiver, ctx: Context, url: str | None = None
    ) -> None:
        self.name = name
        self.url = url or ctx.secret(config.url_env)
        self.url_env = config.url_env
        self.ctx = ctx
        self.transport = ctx.transport("slack")
        self.transport.classify = _classify

    def describe(self) -> str:
        return f"slack webhook from ${self.url_env}" + ("" if self.url else " (not set)")

    def payload(self, message: Message) -> dict[str, Any]:
        blocks: list[dict[str, Any]] = []
        if message.note:
            blocks.append(_context(escape(message.note)))
        if message.grouped:
            counts = Counter(n.status for n in message.notifications)
            header = f"{counts['firing']} firing, {counts['resolved']} resolved"
            if counts["info"]:
                header += f", {counts['info']} other"
            blocks.append({"type": "header", "text": {"type": "plain_text", "text": header}})
        for n in message.notifications[: MAX_BLOCKS // 3]:
            blocks += self._blocks(n)
        hidden = len(message.notifications) - MAX_BLOCKS // 3
        if hidden > 0:
            blocks.append(_context(f"and {hidden} more"))
        # The plain text Slack shows in notifications and previews: the e-mail subject, so
        # an operator's subject.j2 shapes both.
        text = self.ctx.renderer.render("subject.j2", message)
        first = message.first
        colour_of = "#2eb886" if message.status == "resolved" else colour(first)
        return {"text": text, "attachments": [{"color": colour_of, "blocks": blocks}]}

    def _blocks(self, n: Notification) -> list[dict[str, Any]]:
        title = f"{_icon(n)} *{status_word(n)}*: {escape(n.title)}"
        section: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": title}}
        facts = {"Severity": n.severity, **n.fields}
        # The alert evaluator puts its own formatted "value" among the fields.
        if n.value is not None and "value" not in n.fields:
            facts["Value"] = number(n.value)
        section["fields"] = [
            {"type": "mrkdwn", "text": f"*{escape(k)}*\n{escape(v)}"}
            for k, v in list(facts.items())[:10]
        ]
        blocks = [section]
        if n.summary:
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": escape(n.summary)[:3000]}}
            )
        if n.links:
            links = " | ".join(f"<{href}|{escape(text)}>" for text, href in n.links.items())
            blocks.append(_context(links))
        return blocks

    def send(self, message: Message) -> None:
        if not self.url:
            raise raise_unconfigured("slack", f"${self.url_env}")
        self.transport.post(self.url, json=self.payload(message))


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}
