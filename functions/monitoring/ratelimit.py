"""Requests per client per minute, counted in Firestore.

A fixed window per client and UTC minute: one document in ``fw_rate_limits`` per
(client, minute), its ``count`` raised with an atomic increment. Every instance of a
function shares the counter, so the limit holds however many instances Cloud Functions
starts. The client id is stored only as a SHA-256 digest: it may be derived from a
credential, and counters are no place for one.

Cost: one write and one read per allowed request. Once an instance has seen a client over
its limit, it refuses that client for the rest of the window without touching Firestore, so
a flood costs one Firestore round trip per instance and window, not one per request.

``expires_at`` on each counter is the field a Firestore TTL policy should name
(``gcloud firestore fields ttls update expires_at --collection-group=fw_rate_limits``);
counters are useless a minute after their window.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitoring.errors import RateLimited
from monitoring.store import Collections, firestore_client

if TYPE_CHECKING:
    from flask import Request

    from monitoring.auth import Principal
    from monitoring.config import Settings

__all__ = ["RateDecision", "check_rate", "client_id_for"]

logger = logging.getLogger(__name__)

WINDOW = timedelta(minutes=1)
# Counters outlive their window by this much, so an operator can look at a flood afterwards.
KEEP = timedelta(hours=1)
# A slow counter must not hold up ingestion for the client library's default minute.
TIMEOUT_S = 5.0

_refused_lock = threading.Lock()
# Counter document id -> (end of its window, the Firestore client that counted it), for
# windows this instance knows are full. Tying an entry to its client means a fresh client
# (another project, or a test that emptied the emulator) starts with nothing remembered.
_refused: dict[str, tuple[datetime, object]] = {}


class RateDecision:
    """The outcome of an allowed request: how many the client has used in this window."""

    __slots__ = ("count", "limit", "reset_at")

    def __init__(self, count: int, limit: int, reset_at: datetime) -> None:
        self.count = count
        self.limit = limit
        self.reset_at = reset_at

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)


def check_rate(
    settings: Settings, client_id: str, limit_per_minute: int, now: datetime
) -> RateDecision:
    """Count one request from ``client_id`` in the minute of ``now``; refuse it over the limit.

    Raises ``RateLimited`` (429) with ``retry_after`` = seconds to the next window when the
    client has already made ``limit_per_minute`` requests this minute. A limit of 0 or less
    turns limiting off. If Firestore cannot be reached the request is allowed and a warning
    logged: the limiter protects the ingest path, it must not become its single point of
    failure.
    """
    start = _window_start(now)
    reset_at = start + WINDOW
    if limit_per_minute <= 0:
        return RateDecision(0, limit_per_minute, reset_at)

    doc_id = _doc_id(client_id, start)
    client = firestore_client(settings)
    if _known_full(doc_id, client, now):
        raise _refusal(now, reset_at)

    try:
        count = _increment(client, doc_id, start, reset_at)
    except Exception as error:
        logger.warning("rate limit counter unavailable, allowing: %s", type(error).__name__)
        return RateDecision(0, limit_per_minute, reset_at)

    if count > limit_per_minute:
        _remember_full(doc_id, client, reset_at, now)
        raise _refusal(now, reset_at)
    return RateDecision(count, limit_per_minute, reset_at)


def client_id_for(request: Request, principal: Principal | None) -> str:
    """Return the id a request is counted under: its signed-in user, else its address.

    A shared key (the API key, the ingest key every copy of the app sends) names no single
    client, so those requests are counted by address. Behind Google's front end the last
    ``X-Forwarded-For`` entry is the address the load balancer saw; earlier entries are
    whatever the client chose to send, so they are ignored.
    """
    if principal is not None and principal.method == "id_token":
        return f"uid:{principal.uid}"
    forwarded = request.headers.get("X-Forwarded-For", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    address = hops[-1] if hops else (request.remote_addr or "unknown")
    return f"ip:{address[:64]}"


def _window_start(now: datetime) -> datetime:
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    return now.replace(second=0, microsecond=0)


def _doc_id(client_id: str, start: datetime) -> str:
    digest = hashlib.sha256(client_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{digest}-{start:%Y%m%d%H%M}"


def _increment(client: Any, doc_id: str, start: datetime, reset_at: datetime) -> int:
    from google.cloud import firestore

    ref = client.collection(Collections.RATE_LIMITS).document(doc_id)
    # An increment needs no transaction: concurrent requests never lose a count, and a read
    # that sees a neighbour's increment only makes the decision stricter.
    ref.set(
        {
            "count": firestore.Increment(1),
            "window_start": start,
            "expires_at": reset_at + KEEP,
        },
        merge=True,
        timeout=TIMEOUT_S,
    )
    snapshot = ref.get(timeout=TIMEOUT_S)
    return int((snapshot.to_dict() or {}).get("count", 0))


def _known_full(doc_id: str, client: object, now: datetime) -> bool:
    with _refused_lock:
        entry = _refused.get(doc_id)
        return entry is not None and entry[1] is client and now < entry[0]


def _remember_full(doc_id: str, client: object, reset_at: datetime, now: datetime) -> None:
    with _refused_lock:
        for key in [k for k, (until, _) in _refused.items() if until <= now]:
            del _refused[key]
        _refused[doc_id] = (reset_at, client)


def _refusal(now: datetime, reset_at: datetime) -> RateLimited:
    retry_after = max(1.0, (reset_at - now).total_seconds())
    return RateLimited("too many requests; retry after the Retry-After delay", retry_after)


def forget_refusals() -> None:
    """Clear this instance's memory of full windows (tests that reset Firestore)."""
    with _refused_lock:
        _refused.clear()
