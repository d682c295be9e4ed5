"""Which recipients a message already reached, for channels that have no idempotency key.

Twilio takes no key: when one number of three fails, the retry of the whole message would
text the other two again. The SMS notifier asks the ledger before each number and records
it after Twilio accepts; only a crash between those two steps can still send that one
number twice. Records hold hashes, never a phone number, and expire with the delivery
records (``expire_at``, for a Firestore TTL policy).
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from monitoring.store import Collections, firestore_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["FirestoreLedger", "MemoryLedger", "SentLedger", "recipient_key"]

RETENTION = timedelta(days=30)


def recipient_key(message_key: str, recipient: str) -> str:
    """Return the ledger id of one message to one recipient (a hash: no number stored)."""
    return hashlib.sha256(f"{message_key}\x00{recipient}".encode()).hexdigest()[:40]


class SentLedger(Protocol):
    def sent(self, key: str) -> bool: ...

    def record(self, key: str) -> None: ...


class MemoryLedger:
    """The ledger of one process: enough for retries inside one drain, and for tests."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def sent(self, key: str) -> bool:
        with self._lock:
            return key in self._keys

    def record(self, key: str) -> None:
        with self._lock:
            self._keys.add(key)


class FirestoreLedger:
    """The ledger in ``fw_sent``, shared by every drain, so a later retry skips them too."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _doc(self, key: str) -> Any:
        return firestore_client(self.settings).collection(Collections.SENT).document(key)

    def sent(self, key: str) -> bool:
        return bool(self._doc(key).get().exists)

    def record(self, key: str) -> None:
        now = datetime.now(UTC)
        self._doc(key).set({"at": now, "expire_at": now + RETENTION})
