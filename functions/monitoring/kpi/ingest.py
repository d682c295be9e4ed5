"""The ``record_metrics`` HTTP function: batched events from the app and its frontend.

1. Authenticate: the API key (``X-API-Key``), the ingest key (``X-Ingest-Key``) or a
   Firebase ID token. A signed-in user without the admin claim may only report events as
   themselves: their ``user_id`` replaces any other in the events.
2. Read the body, bounded by ``kpi.ingest_max_bytes``, and check its shape and the event
   count (``kpi.ingest_max_events``).
3. Validate each event on its own and record the good ones; a bad event is reported by
   index with the field that is wrong and never drops the good events beside it.
4. Flush, so what was accepted is in Firestore when the answer leaves.

The answer is 200 with ``accepted`` and ``rejected`` when at least one event was kept, and
400 with the same body when none was.
"""

from __future__ import annotations

import hmac
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from monitoring.auth import Principal, authenticate
from monitoring.errors import AuthError, FirewatchError, InputError, PayloadTooLarge
from monitoring.http import error_response, json_response, read_json
from monitoring.kpi import recorder as rec
from monitoring.kpi.events import (
    EVENT_TYPES,
    ActiveUserEvent,
    ApiEvent,
    AuthFailureEvent,
    AuthRefusedEvent,
    CacheEvent,
    DocumentEvent,
    Event,
    EventAdapter,
    FeatureEvent,
    FunctionEvent,
    GaugeEvent,
    PageLoadEvent,
    PromptExecutionEvent,
    SessionEvent,
)
from monitoring.ratelimit import check_rate, client_id_for

if TYPE_CHECKING:
    from flask import Request, Response

    from monitoring.clock import Clock
    from monitoring.config import Settings

__all__ = ["handle", "ingest_events"]

logger = logging.getLogger(__name__)

# Events older than this would land in minutes alerts have already judged; newer than the
# skew allowance means the client's clock is wrong.
_MAX_AGE = timedelta(hours=24)
_MAX_SKEW = timedelta(minutes=5)


def handle(request: Request, settings: Settings, clock: Clock) -> Response:
    """Answer one ``record_metrics`` request (see the module docstring)."""
    cors = _cors_headers(request, settings)
    if request.method == "OPTIONS":
        return json_response({}, 204 if cors else 403, cors)
    if request.method != "POST":
        allow = {"Allow": "POST, OPTIONS", **cors}
        return json_response({"error": "send events with POST"}, 405, allow)
    try:
        return _post(request, settings, clock, cors)
    except FirewatchError as error:
        if not cors or error.status_code >= 500:
            raise  # the entry point answers (and logs server errors)
        # A browser hides an answer without CORS headers from the page: the app would see
        # a network error instead of the refused key, the bad field or the Retry-After.
        response = error_response(error)
        response.headers.update(cors)
        return response


def _post(request: Request, settings: Settings, clock: Clock, cors: dict[str, str]) -> Response:
    principal = _authenticate(request, settings)
    check_rate(
        settings,
        client_id_for(request, principal),
        settings.kpi.ingest_rate_per_minute,
        clock.now(),
    )

    body = read_json(request, settings.kpi.ingest_max_bytes)
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise InputError('body must be a JSON object with an "events" list')
    events: list[Any] = body["events"]
    if len(events) > settings.kpi.ingest_max_events:
        raise PayloadTooLarge(
            f"{len(events)} events in one request; send at most {settings.kpi.ingest_max_events}"
        )

    now = clock.now()
    result = ingest_events(settings, events, now, principal=principal)
    status = 200 if result["accepted"] or not events else 400
    if status == 400:
        first = result["rejected"][0]
        result["error"] = f"events[{first['index']}].{first['field']}: {first['error']}"
    logger.info(
        "ingested %d events, rejected %d",
        result["accepted"],
        len(result["rejected"]),
        extra={"principal": principal.method},
    )
    return json_response(result, status, cors)


def _cors_headers(request: Request, settings: Settings) -> dict[str, str]:
    """Return the CORS headers for a browser origin we allow (none for others)."""
    origin = request.headers.get("Origin")
    allowed = settings.kpi.ingest_cors_origins
    if not origin or not ("*" in allowed or origin in allowed):
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Ingest-Key",
        "Access-Control-Expose-Headers": "Retry-After",
        "Access-Control-Max-Age": "3600",
        "Vary": "Origin",
    }


def _authenticate(request: Request, settings: Settings) -> Principal:
    ingest_key = request.headers.get("X-Ingest-Key")
    if ingest_key is not None:
        expected = settings.kpi.ingest_key.get_secret_value() if settings.kpi.ingest_key else ""
        if expected and hmac.compare_digest(ingest_key.encode(), expected.encode()):
            return Principal(uid="ingest-key", admin=True, method="ingest_key")
        raise AuthError("unauthorized")
    principal = authenticate(request, settings)
    if principal is None:
        raise AuthError("unauthorized")
    return principal


def ingest_events(
    settings: Settings,
    events: list[Any],
    now: datetime,
    *,
    principal: Principal | None = None,
) -> dict[str, Any]:
    """Validate and record ``events``; flush; return ``accepted`` and ``rejected``."""
    accepted = 0
    rejected: list[dict[str, Any]] = []
    as_user = principal.uid if principal is not None and not principal.admin else None
    for index, raw in enumerate(events):
        try:
            event = EventAdapter.validate_python(raw)
        except ValidationError as error:
            rejected.append({"index": index, **_describe(error)})
            continue
        at = event.when(now)
        if at > now + _MAX_SKEW or at < now - _MAX_AGE:
            problem = (
                "must not be more than 5 minutes in the future"
                if at > now
                else "must be within the last 24 hours"
            )
            rejected.append({"index": index, "field": "at", "error": problem})
            continue
        news = at >= now - timedelta(seconds=settings.kpi.immediate_max_age_s)
        try:
            _apply(settings, event, at, as_user, news)
        except rec.RecordError as error:
            rejected.append({"index": index, "field": "labels", "error": str(error)})
            continue
        accepted += 1

    if accepted:
        rec.get_recorder(settings).flush(now)
    return {"accepted": accepted, "rejected": rejected}


def _describe(error: ValidationError) -> dict[str, str]:
    """Return the first problem as a dotted field path and a message (no input echoed)."""
    problem = error.errors(include_url=False, include_input=False)[0]
    location = [str(part) for part in problem["loc"]]
    if problem["type"] in {"union_tag_not_found", "union_tag_invalid"}:
        return {"field": "type", "error": problem["msg"]}
    if location and location[0] in _TAGS:
        location = location[1:]  # the discriminated union puts the tag first
    return {"field": ".".join(location) or "(event)", "error": problem["msg"]}


_TAGS = set(EVENT_TYPES)


def _apply(settings: Settings, event: Event, at: datetime, as_user: str | None, news: bool) -> None:
    """Record ``event``; ``news`` False (an old event) raises no immediate notification."""

    def user(claimed: str | None) -> str | None:
        return as_user or claimed

    if isinstance(event, ApiEvent):
        rec.track_api_performance(
            settings,
            endpoint=event.endpoint,
            method=event.method,
            response_time_ms=event.response_time_ms,
            status_code=event.status_code,
            user_id=user(event.user_id),
            at=at,
            immediate=news,
        )
    elif isinstance(event, FunctionEvent):
        rec.track_function_performance(
            settings,
            function=event.function,
            duration_ms=event.duration_ms,
            memory_mb=event.memory_mb,
            memory_limit_mb=event.memory_limit_mb,
            success=event.success,
            cold_start=event.cold_start,
            at=at,
            immediate=news,
        )
    elif isinstance(event, PageLoadEvent):
        rec.track_page_load(
            settings,
            page=event.page,
            load_time_ms=event.load_time_ms,
            user_id=user(event.user_id),
            at=at,
        )
    elif isinstance(event, PromptExecutionEvent):
        rec.track_prompt_execution(
            settings,
            model=event.model,
            duration_ms=event.duration_ms,
            tokens=event.tokens,
            cost_usd=event.cost_usd,
            success=event.success,
            user_id=user(event.user_id),
            at=at,
            immediate=news,
        )
    elif isinstance(event, DocumentEvent):
        rec.track_document(settings, status=event.status, processing_ms=event.processing_ms, at=at)
    elif isinstance(event, SessionEvent):
        rec.track_session(
            settings,
            duration_s=event.duration_s,
            pages=event.pages,
            user_id=user(event.user_id),
            at=at,
        )
    elif isinstance(event, FeatureEvent):
        rec.track_feature(settings, feature=event.feature, user_id=user(event.user_id), at=at)
    elif isinstance(event, CacheEvent):
        rec.track_cache(settings, cache=event.cache, hits=event.hits, misses=event.misses, at=at)
    elif isinstance(event, GaugeEvent):
        rec.track_gauge(settings, event.metric, event.value, event.labels, at=at)
    elif isinstance(event, AuthFailureEvent):
        rec.track_auth_failure(settings, reason=event.reason, at=at)
    elif isinstance(event, AuthRefusedEvent):
        rec.get_recorder(settings).record(
            "auth_refused", 1, {"endpoint": event.endpoint, "status": str(event.status)}, at=at
        )
    elif isinstance(event, ActiveUserEvent):
        uid = user(event.user_id)
        rec.get_recorder(settings).record("active_users", 1, at=at, distinct_id=uid)
