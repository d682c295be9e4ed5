"""The admin dashboard: access, the figures it shows, and a render in a real browser."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.dashboard.endpoint import COOKIE, handle
from monitoring.kpi.recorder import Recorder
from tests.browser import CHROMIUM, NO_CHROMIUM, chromium, serving
from tests.conftest import REPO, START

API_KEY = "test-api-key-5f1c9a"  # make_settings' key


@pytest.fixture
def seeded(settings: Settings, clock: ManualClock) -> ManualClock:
    """An hour of traffic: 10 requests a minute, one 5xx in every minute of the last 10,
    a prompt execution each minute at $0.02, 3 cache hits to 1 miss."""
    recorder = Recorder(settings, clock=clock)
    start = clock.now() - timedelta(hours=1)
    for minute in range(60):
        at = start + timedelta(minutes=minute, seconds=5)
        for i in range(10):
            status = 500 if (minute >= 50 and i == 0) else 200
            labels = {
                "endpoint": "/api/execute",
                "method": "POST",
                "status_class": f"{status // 100}xx",
            }
            recorder.record("api_requests", 1, labels, at=at)
            if status == 500:
                recorder.record("api_errors", 1, labels, at=at)
            recorder.record(
                "api_response_time_ms",
                100 + 10 * i,
                {"endpoint": "/api/execute", "method": "POST"},
                at=at,
            )
        recorder.record("prompt_executions", 1, {"model": "gpt-4o", "status": "success"}, at=at)
        recorder.record("prompt_cost_usd", 0.02, {"model": "gpt-4o"}, at=at)
        recorder.record("cache_hits", 3, {"cache": "prompts"}, at=at)
        recorder.record("cache_misses", 1, {"cache": "prompts"}, at=at)
    recorder.flush(clock.now())
    return clock


def _app(settings: Settings, clock: ManualClock):  # type: ignore[no-untyped-def]
    from flask import Flask, request

    from monitoring.http import guarded

    app = Flask("dashboard-test")

    @guarded("dashboard")
    def view(req):  # type: ignore[no-untyped-def]
        return handle(req, settings, clock)

    app.add_url_rule(
        "/dashboard", "dashboard", lambda: view(request), methods=["GET", "POST", "PUT"]
    )
    return app


def test_dashboard_without_credentials_shows_sign_in_with_401(settings, clock) -> None:
    reply = _app(settings, clock).test_client().get("/dashboard")
    assert reply.status_code == 401
    assert b'name="api_key"' in reply.data
    assert b"Requests per minute" not in reply.data


def test_dashboard_json_without_credentials_is_401(settings, clock) -> None:
    reply = _app(settings, clock).test_client().get("/dashboard?format=json")
    assert reply.status_code == 401
    assert reply.get_json() == {"error": "unauthorized"}


def test_wrong_api_key_is_401_and_non_admin_token_is_403(settings, clock) -> None:
    from tests.security_tokens import unsigned_id_token

    client = _app(settings, clock).test_client()
    assert client.get("/dashboard?format=json", headers={"X-API-Key": "nope"}).status_code == 401
    token = unsigned_id_token("alice", admin=False)
    reply = client.get("/dashboard?format=json", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 403


def test_sign_in_sets_a_session_cookie_that_is_not_the_key(settings, clock) -> None:
    client = _app(settings, clock).test_client()
    refused = client.post("/dashboard", data={"api_key": "wrong"})
    assert refused.status_code == 401
    accepted = client.post("/dashboard?range=7d", data={"api_key": API_KEY})
    assert accepted.status_code == 303
    assert accepted.headers["Location"].endswith("/dashboard?range=7d")
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None and cookie.value and API_KEY not in cookie.value
    assert client.get("/dashboard").status_code == 200


def test_dashboard_figures_come_from_the_rollups(settings, seeded) -> None:
    client = _app(settings, seeded).test_client()
    reply = client.get("/dashboard?format=json&range=1h", headers={"X-API-Key": API_KEY})
    assert reply.status_code == 200
    charts = reply.get_json()["charts"]
    assert charts["request_rate"]["current"] == pytest.approx(10.0)
    assert charts["error_rate"]["current"] == pytest.approx(10 / 600)
    assert charts["cost_per_execution"]["current"] == pytest.approx(0.02)
    assert charts["cache_hit_rate"]["current"] == pytest.approx(0.75)
    # P95 of 100..190 ms in steps of 10 is 190 (nearest rank); the sketch is within 1%.
    assert charts["p95_response_time"]["current"] == pytest.approx(190, rel=0.01)
    assert charts["daily_cost"]["threshold"] == settings.daily_budget_usd
    assert len(charts["error_rate"]["points"]) == 60
    assert charts["page_load_p95"]["current"] is None  # no page loads recorded


def test_unknown_range_is_a_400_naming_the_choices(settings, clock) -> None:
    reply = (
        _app(settings, clock)
        .test_client()
        .get("/dashboard?range=2y", headers={"X-API-Key": API_KEY})
    )
    assert reply.status_code == 400
    assert "1h, 24h, 7d, 30d" in reply.get_json()["error"]


def test_html_dashboard_has_every_chart_as_inline_svg_and_refreshes(settings, seeded) -> None:
    reply = (
        _app(settings, seeded)
        .test_client()
        .get("/dashboard?range=1h", headers={"X-API-Key": API_KEY})
    )
    page = reply.get_data(as_text=True)
    assert reply.status_code == 200
    for title in (
        "Requests per minute",
        "Error rate (5xx)",
        "P95 response time",
        "Page load P95",
        "Prompt executions",
        "Cost per execution",
        "Daily cost vs budget",
        "Cold starts",
        "Cache hit rate",
    ):
        assert title in page
    assert page.count("<svg") == 9
    assert '<meta http-equiv="refresh" content="60">' in page
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )


class _AdminProxy:
    """Adds the API key header, as an authenticating proxy (IAP and the like) would; the
    browser itself cannot set headers from the command line."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        environ["HTTP_X_API_KEY"] = API_KEY
        return self.app(environ, start_response)


@pytest.fixture
def served(settings, seeded) -> Iterator[str]:
    with serving(_AdminProxy(_app(settings, seeded))) as url:
        yield f"{url}/dashboard?range=1h"


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_dashboard_renders_in_chromium(served: str, tmp_path: Path) -> None:
    dom = chromium(served, tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-500:]
    assert "Requests per minute" in dom.stdout
    assert dom.stdout.count("<polyline") >= 5  # the charts with data drew lines

    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "dashboard.png"
    shot.unlink(missing_ok=True)
    done = chromium(served, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,1400")
    assert done.returncode == 0, done.stderr[-500:]
    assert shot.stat().st_size > 10_000  # a real picture, not a blank page


def test_daily_cost_shows_fourteen_days_whatever_the_minute(settings: Settings) -> None:
    from monitoring.dashboard.data import gather

    midnight = START.replace(hour=0) + timedelta(days=1)
    recorder = Recorder(settings)
    recorder.record("prompt_cost_usd", 2.5, {"model": "m"}, at=midnight - timedelta(minutes=1))
    recorder.flush()

    bars = {}
    for now in (midnight + timedelta(seconds=30), midnight + timedelta(minutes=5)):
        [chart] = [c for c in gather(settings, now, "24h").charts if c.key == "daily_cost"]
        bars[now.minute] = [(when.day, value) for when, value in chart.points]

    # At 00:00 the last completed minute is yesterday's: its day is the last bar, and the
    # thirteen before it (only twelve were: at midnight the chart lost a day).
    assert len(bars[0]) == 14 and bars[0][-1] == (START.day, 2.5)
    assert len(bars[5]) == 14 and bars[5][-2:] == [(START.day, 2.5), (midnight.day, None)]
