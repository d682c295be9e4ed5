"""SMS through Twilio's Messages REST API.

Text only: HTML never reaches a phone. Messages are cut to ``max_chars`` (default 306, two
segments) because Twilio bills per 153-character segment and a long alert costs more than it
helps. One character outside the GSM-7 alphabet makes the whole message UCS-2, 67 characters
a segment, so 306 characters cost 5 segments instead of 2: non-breaking spaces and the usual
typographic marks are replaced by their plain forms, and the cut is marked with "...".
https://www.twilio.com/docs/glossary/what-sms-character-limit
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from monitoring.errors import DeliveryError
from monitoring.notifiers.base import Message, mask_address, raise_unconfigured
from monitoring.notifiers.context import Context
from monitoring.notifiers.ledger import recipient_key
from monitoring.notifiers.routing import SmsReceiver

__all__ = ["SmsNotifier", "fit"]


# Characters outside GSM-7 that alert text often holds, and their GSM-7 spelling.
PLAIN = str.maketrans(
    {
        "\u00a0": " ",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
    }
)
CUT = "..."


def fit(text: str, limit: int) -> str:
    """Return ``text`` on one line in plain characters, cut to ``limit`` with "..."."""
    text = " ".join(text.translate(PLAIN).split())
    return text if len(text) <= limit else text[: limit - len(CUT)].rstrip() + CUT


def _classify(response: httpx.Response) -> DeliveryError | None:
    # Twilio answers 400 with an error code for a bad number or sender and 401 for bad
    # credentials; neither changes on a retry.
    # https://www.twilio.com/docs/api/errors
    if response.status_code in (400, 401, 403, 404):
        try:
            code = response.json().get("code")
        except ValueError:
            code = None
        suffix = f", Twilio error {code}" if code else ""
        return DeliveryError(f"twilio answered HTTP {response.status_code}{suffix}", permanent=True)
    return None


class SmsNotifier:
    kind: ClassVar[str] = "sms"
    supports_keys: ClassVar[bool] = False
    groups: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        config: SmsReceiver,
        ctx: Context,
        *,
        api_base: str | None = None,
        credentials: tuple[str, str, str] | None = None,
    ) -> None:
        self.name = name
        self.to = list(config.to)
        self.max_chars = config.max_chars
        self.api_base = (api_base or config.api_base).rstrip("/")
        self.ctx = ctx
        s = ctx.settings
        sid, token = s.twilio_account_sid, ctx.secret("FIREWATCH_NOTIFY__TWILIO_AUTH_TOKEN")
        self.credentials = credentials or (
            (sid, token, s.twilio_from) if sid and token and s.twilio_from else None
        )
        self.transport = ctx.transport("twilio")
        self.transport.classify = _classify

    def describe(self) -> str:
        to = ", ".join(mask_address(n) for n in self.to)
        return f"sms to {to} via Twilio" + ("" if self.credentials else " (not configured)")

    def text(self, message: Message) -> str:
        return fit(self.ctx.renderer.render("sms.j2", message), self.max_chars)

    def send(self, message: Message) -> None:
        if self.credentials is None:
            raise raise_unconfigured("sms", "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN or TWILIO_FROM")
        sid, token, sender = self.credentials
        url = f"{self.api_base}/2010-04-01/Accounts/{sid}/Messages.json"
        body = self.text(message)
        # Twilio has no idempotency key: the ledger remembers which numbers a message
        # reached, so the retry after one number failed texts only the ones still owed.
        for number in self.to:
            done = recipient_key(f"{message.key}:{message.status}", number)
            if self.ctx.ledger.sent(done):
                continue
            self.transport.post(
                url, data={"To": number, "From": sender, "Body": body}, auth=(sid, token)
            )
            self.ctx.ledger.record(done)
