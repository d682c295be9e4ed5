"""HTTP probes: the app's own URLs and the LLM provider.

Reasons name the status code or the failure, never the URL or the key: the check's name
says which URL it was, and the detailed report goes to admins only.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import httpx

from monitoring.health.checks import CheckFailed, Outcome

if TYPE_CHECKING:
    from monitoring.config import Settings
    from monitoring.health.settings import EndpointCheckSettings

__all__ = ["endpoint_probe", "http_client", "llm_probe"]

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


def _get(method: str, url: str, timeout_s: float, headers: dict[str, str]) -> httpx.Response:
    try:
        return http_client().request(method, url, headers=headers, timeout=timeout_s)
    except httpx.TimeoutException:
        raise CheckFailed(f"no answer within {timeout_s:g} s") from None
    except httpx.ConnectError:
        raise CheckFailed("connection failed") from None
    except httpx.HTTPError as error:
        raise CheckFailed(f"request failed: {type(error).__name__}") from None


def endpoint_probe(endpoint: EndpointCheckSettings, timeout_s: float) -> Outcome:
    """Request one of the app's URLs and compare the status (and body) with expectations."""
    response = _get(endpoint.method, endpoint.url, timeout_s, {})
    details = {"status_code": response.status_code}
    if response.status_code != endpoint.expected_status:
        raise CheckFailed(f"answered {response.status_code}, expected {endpoint.expected_status}")
    if endpoint.body_contains is not None and endpoint.body_contains not in response.text:
        raise CheckFailed("the body does not contain the expected text")
    return Outcome(details=details)


def llm_probe(settings: Settings, timeout_s: float) -> Outcome:
    """Ask the provider about our own key: it answers 200 only when the API and key work."""
    key = settings.health.llm_api_key
    if key is None:
        raise CheckFailed("no LLM API key configured (FIREWATCH_HEALTH__LLM_API_KEY)")
    headers = {"Authorization": f"Bearer {key.get_secret_value()}"}
    response = _get("GET", settings.health.llm_url, timeout_s, headers)
    code = response.status_code

    if code in (401, 403):
        raise CheckFailed(f"the provider refused the API key ({code})")
    if code == 429:
        return Outcome("degraded", "rate limited by the provider (429)")
    if code != 200:
        raise CheckFailed(f"the provider answered {code}")
    try:
        remaining = (response.json().get("data") or {}).get("limit_remaining")
    except (ValueError, AttributeError):
        remaining = None
    if isinstance(remaining, int | float) and remaining <= 0:
        raise CheckFailed("the API key has no credit left")
    return Outcome()
