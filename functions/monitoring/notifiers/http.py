"""The HTTP transport notifiers share: timeouts, retries with backoff and jitter.

Every call has a timeout. A 5xx, 408, a timeout or a refused connection is retried with
exponential backoff plus full jitter; a 429 or 503 with ``Retry-After`` waits what the
receiver asked for, when that fits the budget of one call, and otherwise hands the hint to the
outbox through ``DeliveryError.retry_after``. Any other 4xx is permanent. Error messages name
the channel and status, never the URL (webhook URLs are secrets).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from monitoring.errors import DeliveryError

__all__ = ["HttpTransport", "RetryPolicy", "parse_retry_after"]

logger = logging.getLogger(__name__)


class _HideUrlPaths(logging.Filter):
    """Cut the path and query from the URL in httpx's own "HTTP Request: POST <url>" line.

    A Slack or webhook URL is the credential itself; httpx logs it at INFO on every call.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                f"{a.scheme}://{a.netloc.decode()}/***" if isinstance(a, httpx.URL) else a
                for a in record.args
            )
        return True


class _HideUrllib3Paths(logging.Filter):
    """The same for urllib3's request line, which Apprise's plug-ins (through requests) log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            isinstance(record.args, tuple)
            and len(record.args) >= 5
            and '"%s %s %s"' in str(record.msg)
        ):
            args = list(record.args)
            args[4] = "/***"
            record.args = tuple(args)
        return True


logging.getLogger("httpx").addFilter(_HideUrlPaths())
logging.getLogger("urllib3.connectionpool").addFilter(_HideUrllib3Paths())

Sleep = Callable[[float], None]
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_s: float = 0.5
    cap_s: float = 4.0
    # Retry-After longer than this is left to the next drain rather than slept through.
    max_wait_s: float = 10.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Return the wait before try ``attempt + 1`` (full jitter, AWS style)."""
        return rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return seconds from a ``Retry-After`` header (delta or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass
class HttpTransport:
    """POSTs with retries. Inject ``sleep`` and ``rng`` so tests never wait."""

    channel: str
    timeout_s: float = 10.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Sleep = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    client: httpx.Client | None = None
    # Vendor-specific: return a DeliveryError for a non-2xx answer, or None for the default.
    classify: Callable[[httpx.Response], DeliveryError | None] | None = None

    def post(
        self,
        url: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str | bytes, str | bytes] | None = None,
    ) -> httpx.Response:
        """POST until a 2xx answer; raise ``DeliveryError`` once retrying cannot help."""
        last: DeliveryError | None = None
        for attempt in range(self.policy.attempts):
            if attempt:
                wait = self.policy.backoff(attempt - 1, self.rng)
                if last is not None and last.retry_after is not None:
                    wait = last.retry_after
                self.sleep(wait)
            try:
                response = self._client().post(
                    url,
                    json=json,
                    content=content,
                    data=data,
                    headers=headers,
                    auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                    timeout=self.timeout_s,
                )
            except httpx.TimeoutException:
                last = DeliveryError(f"{self.channel} did not answer within {self.timeout_s:g} s")
            except httpx.TransportError as error:
                last = DeliveryError(
                    f"{self.channel} could not be reached ({type(error).__name__})"
                )
            else:
                if response.is_success:
                    return response
                last = self._error(response)
                if last.permanent:
                    raise last
                if last.retry_after is not None and last.retry_after > self.policy.max_wait_s:
                    raise last
            logger.warning(
                "%s delivery attempt %d failed: %s",
                self.channel,
                attempt + 1,
                last,
                extra={"channel_kind": self.channel, "attempt": attempt + 1},
            )
        assert last is not None
        raise last

    def _error(self, response: httpx.Response) -> DeliveryError:
        if self.classify is not None and (error := self.classify(response)) is not None:
            return error
        status = response.status_code
        logger.debug("%s answered %d: %s", self.channel, status, response.text[:1024])
        retry_after = None
        if status in (429, 503):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return DeliveryError(
            f"{self.channel} answered HTTP {status}",
            permanent=status not in RETRYABLE and status < 500,
            retry_after=retry_after,
        )

    def _client(self) -> httpx.Client:
        if self.client is None:
            self.client = httpx.Client(follow_redirects=False)
        return self.client
