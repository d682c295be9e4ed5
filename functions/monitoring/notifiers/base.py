"""The interface every channel implements, and the message it is handed.

A notifier turns a ``Message`` (one notification, or a group of them for one receiver) into
one delivery on its channel. It classifies failures by raising ``DeliveryError`` with
``permanent`` and ``retry_after``; the outbox decides what to do about them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from monitoring.errors import DeliveryError
from monitoring.notifiers.model import Notification

__all__ = ["DeliveryError", "Message", "Notifier", "mask", "mask_address"]


@dataclass(frozen=True)
class Message:
    """What one send delivers: ``notifications`` in order, under one idempotency ``key``.

    ``note`` is a line shown above the content, e.g. why this came by a fallback channel.
    """

    key: str
    notifications: Sequence[Notification]
    receiver: str = ""
    note: str = ""

    @property
    def first(self) -> Notification:
        return self.notifications[0]

    @property
    def grouped(self) -> bool:
        return len(self.notifications) > 1

    @property
    def status(self) -> str:
        """Return "resolved" only when every notification in the message is resolved."""
        if all(n.status == "resolved" for n in self.notifications):
            return "resolved"
        return self.first.status if not self.grouped else "firing"


class Notifier(Protocol):
    """One configured channel. ``send`` raises ``DeliveryError``; it never returns False."""

    kind: ClassVar[str]
    # True when the channel deduplicates by our key (PagerDuty dedup_key, webhook header).
    supports_keys: ClassVar[bool]
    # False when each notification must be its own message (PagerDuty incidents).
    groups: ClassVar[bool]

    def send(self, message: Message) -> None: ...

    def describe(self) -> str:
        """Return a one-line description with every secret masked."""
        ...


def mask(value: str, keep: int = 2) -> str:
    """Return ``value`` with all but ``keep`` characters at each end starred."""
    if len(value) <= keep * 2 + 2:
        return "***"
    return f"{value[:keep]}***{value[-keep:]}"


def mask_address(value: str) -> str:
    """Return an e-mail address or phone number partly masked: ``al***@example.com``."""
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:2]}***@{domain}"
    return f"{value[:3]}***{value[-2:]}" if len(value) > 6 else "***"


def plain_text_list(notifications: Sequence[Notification]) -> str:
    return "; ".join(n.title for n in notifications)


def raise_unconfigured(kind: str, what: str) -> DeliveryError:
    return DeliveryError(f"{kind} receiver is not configured: {what} is missing", permanent=True)
