"""HTTP probes: the app's own URLs and the LLM provider.

Reasons name the status code or the failure, never the URL or the key: the check's name
says which URL it was, and the detailed report goes to admins only.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from monitoring.health.checks import CheckFailed, Outcome

if TYPE_CHECKING:
    from monitoring.config import Settings
    from monitoring.health.settings import EndpointCheckSettings

__all__ = ["MAX_BODY_BYTES", "endpoint_probe", "http_client", "llm_probe"]

# A probe reads at most this much of a body (as decompressed): a page of megabytes, a
# stream that never ends or a small gzip bomb must not fill the instance's memory.
MAX_BODY_BYTES = 1024 * 1024
_HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH

_lock = threading.Lock()
_client: httpx.Client | None = None


def http_client() -> httpx.Client:
    """Return the process's shared client (building one costs an SSL context, ~10 ms)."""
    global _client
    with _lock:
        if _client is None:
            _client = httpx.Client(
                headers={"User-Agent": "firewatch-health/1"}, follow_redirects=False
            )
        return _client


@dataclass(frozen=True)
class _Answer:
    status_code: int
    text: str  # the body up to the text looked for, at most MAX_BODY_BYTES of it
    whole: bool = True  # False when the body went on past MAX_BODY_BYTES


def _read_text(response: httpx.Response, deadline: float, until: str | None) -> tuple[str, bool]:
    """Read the body until it holds ``until`` (all of it for None), within the limits."""
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        text = body.decode(response.encoding or "utf-8", errors="replace")
        if until is not None and until in text:
            return text, True
        if len(body) > MAX_BODY_BYTES:
            if until is None:
                raise CheckFailed(f"the body is over {MAX_BODY_BYTES // 1024} KiB")
            return text, False
        # httpx's timeout bounds each read; a body trickling in would never trip it.
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the body is still arriving")
    return body.decode(response.encoding or "utf-8", errors="replace"), True


def _get(
    method: str, url: str, timeout_s: float, headers: dict[str, str], until: str | None
) -> _Answer:
    deadline = time.monotonic() + timeout_s
    try:
        with http_client().stream(method, url, headers=headers, timeout=timeout_s) as response:
            return _Answer(response.status_code, *_read_text(response, deadline, until))
    except httpx.TimeoutException:
        raise CheckFailed(f"no answer within {timeout_s:g} s") from None
    except httpx.ConnectError as error:
        raise CheckFailed(_tls_problem(error) or "connection failed") from None
    except httpx.HTTPError as error:
        raise CheckFailed(f"request failed: {type(error).__name__}") from None


def _tls_problem(error: BaseException) -> str | None:
    """Return what went wrong in the TLS handshake behind ``error``, None if it was not TLS.

    An expired or self-signed certificate needs a renewal, not a look at the network, so it
    must not read as "connection failed".
    """
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            if cause.verify_code == _HOSTNAME_MISMATCH:
                # OpenSSL's text names the host; reasons never name the URL.
                return "TLS certificate is not valid for this host"
            return f"TLS certificate not accepted: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause.reason or type(cause).__name__}"
        cause = cause.__cause__ or cause.__context__
    return None


def endpoint_probe(endpoint: EndpointCheckSettings, timeout_s: float) -> Outcome:
    """Request one of the app's URLs and compare the status (and body) with expectations."""
    wanted = endpoint.body_contains
    response = _get(endpoint.method, endpoint.url, timeout_s, {}, wanted or "")
    details = {"status_code": response.status_code}
    if response.status_code != endpoint.expected_status:
        raise CheckFailed(f"answered {response.status_code}, expected {endpoint.expected_status}")
    if wanted is not None and wanted not in response.text:
        if not response.whole:
            raise CheckFailed(
                f"the first {MAX_BODY_BYTES // 1024} KiB of the body do not contain the "
                "expected text"
            )
        raise CheckFailed("the body does not contain the expected text")
    return Outcome(details=details)


def llm_probe(settings: Settings, timeout_s: float) -> Outcome:
    """Ask the provider about our own key: it answers 200 only when the API and key work."""
    key = settings.health.llm_api_key
    if key is None:
        raise CheckFailed("no LLM API key configured (FIREWATCH_HEALTH__LLM_API_KEY)")
    headers = {"Authorization": f"Bearer {key.get_secret_value()}"}
    response = _get("GET", settings.health.llm_url, timeout_s, headers, None)
    code = response.status_code

    if code in (401, 403):
        raise CheckFailed(f"the provider refused the API key ({code})")
    if code == 429:
        return Outcome("degraded", "rate limited by the provider (429)")
    if code != 200:
        raise CheckFailed(f"the provider answered {code}")
    try:
        remaining = (json.loads(response.text).get("data") or {}).get("limit_remaining")
    except (ValueError, AttributeError):
        remaining = None
    if isinstance(remaining, int | float) and remaining <= 0:
        raise CheckFailed("the API key has no credit left")
    return Outcome()
