"""The record_metrics function: accepts, rejects and reports events one by one."""

from __future__ import annotations

import base64
import json
import logging
import sys
import time
import types
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask, Request, Response, request
from pydantic import SecretStr

from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.http import guarded
from monitoring.kpi.ingest import handle
from monitoring.kpi.query import KpiQuery, Window
from tests.conftest import PROJECT, START

KEY = {"X-API-Key": "test-api-key-5f1c9a"}
NOW = START + timedelta(minutes=5, seconds=20)
RECENT = Window(START, START + timedelta(minutes=6))

Post = Callable[..., Response]


@pytest.fixture
def post(settings: Settings) -> Post:
    app = Flask(__name__)
    clock = ManualClock(NOW)
    run = guarded("record_metrics")(lambda req: handle(req, settings, clock))

    def send(
        body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> Response:
        data = raw if raw is not None else json.dumps(body).encode()
        with app.test_request_context(
            "/",
            method="POST",
            data=data,
            headers=headers if headers is not None else KEY,
            content_type="application/json",
        ):
            req: Request = request
            return run(req)

    return send


def api(status: int = 200, ms: float = 40, **extra: Any) -> dict[str, Any]:
    return {
        "type": "api",
        "endpoint": "/prompts",
        "method": "GET",
        "response_time_ms": ms,
        "status_code": status,
        **extra,
    }


def test_a_valid_batch_of_every_kind_is_recorded(post: Post, kpis: KpiQuery) -> None:
    at = (START + timedelta(minutes=1)).isoformat()
    events = [
        api(user_id="u1", at=at),
        {"type": "function", "function": "resize", "duration_ms": 80, "cold_start": True},
        {"type": "page_load", "page": "/home", "load_time_ms": 900, "user_id": "u2"},
        {
            "type": "prompt_execution",
            "model": "gpt",
            "duration_ms": 1200,
            "tokens": 300,
            "cost_usd": 0.02,
        },
        {"type": "document", "processing_ms": 50},
        {"type": "session", "duration_s": 12, "pages": 1},
        {"type": "feature", "feature": "export"},
        {"type": "cache", "cache": "prompts", "hits": 9, "misses": 1},
        {"type": "gauge", "metric": "db_connections", "value": 17},
        {"type": "auth_failure", "reason": "bad_password"},
        {"type": "auth_refused", "endpoint": "/admin", "status": 403},
        {"type": "active_user", "user_id": "u1"},
    ]

    response = post({"events": events})

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"accepted": 12, "rejected": []}
    assert kpis.aggregate("api_requests", "sum", RECENT) == 1
    assert kpis.aggregate("prompt_cost_usd", "sum", RECENT) == pytest.approx(0.02)
    assert kpis.ratio("session_bounces", "sessions", RECENT) == 1
    assert kpis.aggregate("cache_hits", "sum", RECENT) == 9
    assert kpis.aggregate("db_connections", "last", RECENT) == 17
    assert kpis.aggregate("active_users", "distinct", Window.utc_day(START)) == 2


def test_a_bad_event_is_rejected_by_field_and_the_good_ones_kept(
    post: Post, kpis: KpiQuery
) -> None:
    response = post({"events": [api(), api(status=999), {"type": "teleport"}, api()]})

    assert response.status_code == 200
    body = response.get_json()
    assert body["accepted"] == 2
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "status_code"), (2, "type")]
    assert kpis.aggregate("api_requests", "sum", RECENT) == 2


def test_a_batch_with_no_good_event_is_a_400_naming_the_field(post: Post) -> None:
    response = post({"events": [{"type": "page_load", "page": "/x"}]})

    assert response.status_code == 400
    assert response.get_json()["error"].startswith("events[0].load_time_ms:")


def test_an_event_from_the_future_is_rejected(post: Post) -> None:
    response = post({"events": [api(at=(NOW + timedelta(hours=1)).isoformat())]})

    assert response.get_json()["rejected"][0]["field"] == "at"


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"X-API-Key": "wrong"}, 401), ({"X-Ingest-Key": "nope"}, 401)],
    ids=["none", "bad-api-key", "bad-ingest-key"],
)
def test_unauthenticated_requests_are_refused(
    post: Post, headers: dict[str, str], status: int
) -> None:
    response = post({"events": [api()]}, headers=headers)

    assert response.status_code == status
    assert response.get_json() == {"error": "unauthorized"}


def test_the_ingest_key_is_accepted(settings: Settings, kpis: KpiQuery) -> None:
    keyed = settings.model_copy(
        update={"kpi": settings.kpi.model_copy(update={"ingest_key": SecretStr("ingest-3b9")})}
    )
    app = Flask(__name__)
    with app.test_request_context(
        "/", method="POST", json={"events": [api()]}, headers={"X-Ingest-Key": "ingest-3b9"}
    ):
        response = handle(request, keyed, ManualClock(NOW))

    assert response.status_code == 200
    assert kpis.aggregate("api_requests", "sum", RECENT) == 1


def _unsigned_id_token(uid: str) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {
        "iss": f"https://securetoken.google.com/{PROJECT}",
        "aud": PROJECT,
        "sub": uid,
        "user_id": uid,
        "iat": now,
        "exp": now + 3600,
        "auth_time": now,
    }
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_a_signed_in_user_reports_only_as_themselves(post: Post, kpis: KpiQuery) -> None:
    token = {"Authorization": f"Bearer {_unsigned_id_token('real-user')}"}

    response = post({"events": [api(user_id="someone-else")]}, headers=token)

    assert response.status_code == 200, response.get_json()
    assert kpis.aggregate("active_users", "distinct", Window.utc_day(START)) == 1


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        (b"x" * 300_000, 413, "larger than"),
        (b"{not json", 400, "not valid JSON"),
        (b'{"event": []}', 400, '"events" list'),
        (json.dumps({"events": [{"type": "sessions"}] * 501}).encode(), 413, "at most 500"),
    ],
    ids=["too-large", "not-json", "no-events", "too-many"],
)
def test_malformed_bodies_get_a_4xx_with_a_reason(
    post: Post, raw: bytes, status: int, message: str
) -> None:
    response = post(raw=raw)

    assert response.status_code == status
    assert message in response.get_json()["error"]


def test_new_label_values_over_the_cap_are_refused(settings: Settings, kpis: KpiQuery) -> None:
    capped = settings.model_copy(
        update={"kpi": settings.kpi.model_copy(update={"max_series_per_metric": 2})}
    )
    events = [{"type": "feature", "feature": name} for name in ("a", "b", "c", "a")]
    app = Flask(__name__)
    with app.test_request_context("/", method="POST", json={"events": events}, headers=KEY):
        response = handle(request, capped, ManualClock(NOW))

    body = response.get_json()
    assert body["accepted"] == 3
    assert body["rejected"][0]["index"] == 2
    assert "refused" in body["rejected"][0]["error"]
    assert kpis.aggregate_by("feature_usage", "sum", RECENT, by="feature") == {"a": 2, "b": 1}


class _Outbox(types.ModuleType):
    def __init__(self) -> None:
        super().__init__("monitoring.notifiers.outbox")
        self.sent: list[Any] = []

    def enqueue(
        self, settings: Any, notification: Any, receivers: Any = None, *, now: Any = None
    ) -> str:
        self.sent.append(notification)
        return str(notification.key)


def test_a_5xx_and_a_slow_execution_raise_immediate_events(
    post: Post, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = _Outbox()
    monkeypatch.setitem(sys.modules, "monitoring.notifiers.outbox", outbox)

    post(
        {
            "events": [
                api(status=503),
                api(status=503),
                api(status=200, ms=9000),
                {"type": "prompt_execution", "model": "gpt", "duration_ms": 7000},
            ]
        }
    )

    titles = sorted(n.title for n in outbox.sent)
    assert titles == [  # the second 503 of the minute is the same notification: not resent
        "Execution took 7000 ms (model=gpt)",
        "Server error 503 (endpoint=/prompts,method=GET,status=503)",
    ]
    assert all(n.kind == "alert" for n in outbox.sent)


def test_immediate_events_are_capped_per_minute_and_old_ones_page_nobody(
    post: Post, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A signed-in client could otherwise page on-call hundreds of times with one request:
    # 300 5xx events, each on its own endpoint or in its own past minute.
    outbox = _Outbox()
    monkeypatch.setitem(sys.modules, "monitoring.notifiers.outbox", outbox)
    fresh = [api(status=500, endpoint=f"/e{i}") for i in range(150)]
    old = [api(status=500, at=(NOW - timedelta(minutes=3 + i)).isoformat()) for i in range(150)]

    with caplog.at_level(logging.WARNING, logger="monitoring.kpi.immediate"):
        response = post({"events": fresh + old})

    assert response.get_json()["accepted"] == 300
    assert len(outbox.sent) == 5  # kpi.immediate_max_per_minute
    assert {n.labels["endpoint"] for n in outbox.sent} == {f"/e{i}" for i in range(5)}
    assert "more than 5 immediate events" in caplog.text


def test_without_an_outbox_immediate_events_are_logged_not_raised(
    post: Post, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "monitoring.notifiers.outbox", None)

    with caplog.at_level(logging.WARNING, logger="monitoring.kpi.immediate"):
        response = post({"events": [api(status=500)]})

    assert response.status_code == 200
    assert "outbox is missing" in caplog.text


def test_a_browser_preflight_from_an_allowed_origin_gets_cors_headers(settings: Settings) -> None:
    allowed = settings.model_copy(
        update={
            "kpi": settings.kpi.model_copy(update={"ingest_cors_origins": ["https://app.example"]})
        }
    )
    app = Flask(__name__)
    answers = {}
    for origin in ("https://app.example", "https://evil.example"):
        with app.test_request_context("/", method="OPTIONS", headers={"Origin": origin}):
            answers[origin] = handle(request, allowed, ManualClock(NOW))

    good, bad = answers["https://app.example"], answers["https://evil.example"]
    assert good.status_code == 204
    assert good.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert bad.status_code == 403
    assert "Access-Control-Allow-Origin" not in bad.headers


def test_the_deployed_entry_point_records_events_and_its_own_invocation(
    settings: Settings, kpis: KpiQuery, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitoring import entrypoints
    from monitoring.config import cached_settings
    from monitoring.runtime import get_clock, set_clock

    monkeypatch.setenv("FIREWATCH_PROJECT_ID", PROJECT)
    monkeypatch.setenv("FIREWATCH_API_KEY", KEY["X-API-Key"])
    cached_settings.cache_clear()
    previous = get_clock()
    set_clock(ManualClock(NOW))
    try:
        with Flask(__name__).test_request_context(
            "/", method="POST", json={"events": [api()]}, headers=KEY
        ):
            response = entrypoints.record_metrics(request)
    finally:
        set_clock(previous)
        cached_settings.cache_clear()

    assert response.status_code == 200, response.get_json()
    assert kpis.aggregate("api_requests", "sum", RECENT) == 1
    own = kpis.aggregate("function_invocations", "sum", RECENT, {"function": "record_metrics"})
    assert own == 1


def test_a_refused_browser_request_still_carries_cors_headers(settings: Settings) -> None:
    allowed = settings.model_copy(
        update={
            "kpi": settings.kpi.model_copy(update={"ingest_cors_origins": ["https://app.example"]})
        }
    )
    run = guarded("record_metrics")(lambda req: handle(req, allowed, ManualClock(NOW)))
    app = Flask(__name__)
    browser = {"Origin": "https://app.example"}
    answers = []
    for headers, body in (
        ({**browser, **KEY}, b'{"events": 3}'),  # 400
        ({**browser, "X-Ingest-Key": "wrong"}, b'{"events": []}'),  # 401
        ({**browser, **KEY}, b"x" * (allowed.kpi.ingest_max_bytes + 1)),  # 413
    ):
        with app.test_request_context("/", method="POST", data=body, headers=headers):
            answers.append(run(request))

    # Without them the browser hides the answer: the app saw a network error, not the reason.
    assert [a.status_code for a in answers] == [400, 401, 413]
    for answer in answers:
        assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert "error" in answer.get_json()


def test_an_event_from_the_future_is_refused_as_such(post: Post) -> None:
    body = post({"events": [api(at=(NOW + timedelta(minutes=6)).isoformat())]}).get_json()

    assert body["rejected"] == [
        {"index": 0, "field": "at", "error": "must not be more than 5 minutes in the future"}
    ]


def test_a_gzipped_body_is_read_and_a_gzip_bomb_is_refused(post: Post, kpis: KpiQuery) -> None:
    import gzip

    packed = gzip.compress(json.dumps({"events": [api()]}).encode())
    bomb = gzip.compress(b"[" * (2 * 1024 * 1024))  # 2 MiB of "[" packs to about 2 KB
    headers = {**KEY, "Content-Encoding": "gzip"}

    good = post(raw=packed, headers=headers)
    refused = post(raw=bomb, headers=headers)
    broken = post(raw=packed[:-8], headers=headers)
    unknown = post(raw=packed, headers={**KEY, "Content-Encoding": "br"})

    assert good.status_code == 200 and good.get_json()["accepted"] == 1
    assert (refused.status_code, refused.get_json()["error"]) == (
        413,
        "body inflates to more than 262144 bytes",
    )
    assert broken.status_code == 400 and "gzip" in broken.get_json()["error"]
    assert unknown.status_code == 400 and "not supported" in unknown.get_json()["error"]
