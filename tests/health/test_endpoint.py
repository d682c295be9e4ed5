"""GET /health_check end to end: emulators, scripted HTTP dependencies, stored results."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from monitoring.clock import ManualClock
from monitoring.health import probes
from monitoring.health.checks import Outcome
from monitoring.kpi.query import KpiQuery, Window
from monitoring.kpi.recorder import reset_recorders
from monitoring.localstack.catchers import HttpReceiver, Reply
from monitoring.store import Collections, firestore_client
from tests.conftest import START
from tests.health.conftest import MakeSettings, call, unsigned_token

API_KEY = {"X-API-Key": "test-api-key-5f1c9a"}
SECRET_URL_PART = "token=private-7f3e"


@pytest.fixture(autouse=True)
def _fresh_recorders():  # type: ignore[no-untyped-def]
    reset_recorders()
    yield
    reset_recorders()


def _api(receiver: HttpReceiver, **extra: object) -> dict[str, object]:
    return {"name": "api", "url": f"{receiver.url}/api/ping?{SECRET_URL_PART}", **extra}


def test_public_answer_is_status_and_time_only(
    health_settings: MakeSettings, clock: ManualClock
) -> None:
    response = call(health_settings(), clock)

    assert response.status_code == 200
    assert response.get_json() == {"status": "healthy", "time": "2026-03-02T12:00:00+00:00"}
    assert response.headers["Cache-Control"] == "no-store"


def test_degraded_still_answers_200(
    health_settings: MakeSettings, clock: ManualClock, receiver: HttpReceiver
) -> None:
    receiver.script("/api/ping", Reply(200, delay_s=0.3))
    settings = health_settings(endpoints=[_api(receiver, degraded_after_ms=50)])

    response = call(settings, clock)

    assert (response.status_code, response.get_json()["status"]) == (200, "degraded")


def test_unhealthy_answers_503(
    health_settings: MakeSettings, clock: ManualClock, receiver: HttpReceiver
) -> None:
    receiver.script("/api/ping", Reply(500))

    response = call(health_settings(endpoints=[_api(receiver)]), clock)

    assert (response.status_code, response.get_json()["status"]) == (503, "unhealthy")


def test_hanging_dependency_bounds_the_whole_request(
    health_settings: MakeSettings, clock: ManualClock, receiver: HttpReceiver
) -> None:
    receiver.script("/api/ping", Reply(hang=True))
    settings = health_settings(timeout_s=0.5, endpoints=[_api(receiver)])

    began = time.perf_counter()
    response = call(settings, clock, headers=API_KEY)
    elapsed = time.perf_counter() - began

    # The slowest timeout, plus storing the report; far from the 60 s the server would hang.
    assert elapsed < 0.5 + settings.health.persist_timeout_s
    assert response.status_code == 503
    api = next(c for c in response.get_json()["checks"] if c["name"] == "api")
    assert api["reason"] == "no answer within 0.5 s"


def test_probe_that_raises_is_a_503_with_its_reason_never_a_500(
    health_settings: MakeSettings, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object) -> Outcome:
        raise KeyError("surprise")

    monkeypatch.setattr(probes, "storage_probe", explode)

    response = call(health_settings(), clock, headers=API_KEY)

    assert response.status_code == 503
    storage = next(c for c in response.get_json()["checks"] if c["name"] == "storage")
    assert storage == {
        "name": "storage",
        "status": "unhealthy",
        "latency_ms": storage["latency_ms"],
        "reason": "KeyError: 'surprise'",
        "critical": True,
        "details": None,
    }


def test_api_key_gets_the_detailed_report(
    health_settings: MakeSettings, clock: ManualClock
) -> None:
    response = call(health_settings(), clock, headers=API_KEY)

    body = response.get_json()
    assert response.status_code == 200
    assert [c["name"] for c in body["checks"]] == ["firestore", "storage"]
    assert all(c["status"] == "healthy" and c["latency_ms"] >= 0 for c in body["checks"])
    assert body["status"] == "healthy"


def test_admin_id_token_gets_the_detailed_report(
    health_settings: MakeSettings, clock: ManualClock
) -> None:
    token = unsigned_token("ops-1", admin=True)

    response = call(health_settings(), clock, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    assert "checks" in response.get_json()


@pytest.mark.parametrize(
    ("headers", "path", "status"),
    [
        ({}, "/?detail=1", 401),
        ({"X-API-Key": "wrong"}, "/", 401),
        ({"Authorization": "Bearer not-a-jwt"}, "/", 401),
        ({"Authorization": f"Bearer {unsigned_token('user-1')}"}, "/", 403),
        ({"Authorization": f"Bearer {unsigned_token('user-2', admin='yes')}"}, "/", 403),
    ],
    ids=[
        "detail-without-credentials",
        "wrong-key",
        "garbage-token",
        "no-admin-claim",
        "claim-not-true",
    ],
)
def test_detailed_report_is_refused_without_admin_rights(
    health_settings: MakeSettings, clock: ManualClock, headers, path, status
) -> None:
    response = call(health_settings(), clock, path=path, headers=headers)

    assert response.status_code == status
    assert "checks" not in response.get_json()


def test_post_is_refused(health_settings: MakeSettings, clock: ManualClock) -> None:
    assert call(health_settings(), clock, method="POST").status_code == 405


def test_report_and_public_summary_are_stored(
    health_settings: MakeSettings, clock: ManualClock, receiver: HttpReceiver
) -> None:
    receiver.script("/api/ping", Reply(500))
    settings = health_settings(endpoints=[_api(receiver)])

    call(settings, clock)

    db = firestore_client(settings)
    last = db.collection(Collections.HEALTH).document("last").get().to_dict()
    status = db.collection(Collections.STATUS).document("components").get().to_dict()
    assert last["status"] == "unhealthy"
    assert {c["name"]: c["reason"] for c in last["checks"]}["api"] == "answered 500, expected 200"
    assert status == {
        "status": "unhealthy",
        "components": {"firestore": "healthy", "storage": "healthy", "api": "unhealthy"},
        "updated_at": START,
    }
    assert SECRET_URL_PART not in str(status) and receiver.url not in str(status)


def test_uptime_kpis_are_recorded_per_component(
    health_settings: MakeSettings, clock: ManualClock, receiver: HttpReceiver
) -> None:
    receiver.script("/api/ping", Reply(500))
    settings = health_settings(endpoints=[_api(receiver)])

    call(settings, clock)

    kpis = KpiQuery(settings)
    minute = Window(START, START + timedelta(minutes=1))
    up = kpis.aggregate_by("component_up", "last", minute, by="component")
    assert up == {"firestore": 1.0, "storage": 1.0, "api": 0.0}
    down = kpis.aggregate(
        "health_checks", "sum", minute, {"component": "api", "status": "unhealthy"}
    )
    assert down == 1.0


def test_public_answers_reuse_a_young_report(
    health_settings: MakeSettings, clock: ManualClock, receiver: HttpReceiver
) -> None:
    settings = health_settings(cache_s=10, endpoints=[_api(receiver)])

    call(settings, clock)
    clock.advance(seconds=9)
    cached = call(settings, clock)
    clock.advance(seconds=1)
    fresh = call(settings, clock)
    call(settings, clock, headers=API_KEY)  # detailed: always a new run

    # status 0 would be a hung request of an earlier test, recorded when it was released
    assert len([r for r in receiver.requests("/api/ping") if r.status]) == 3
    assert cached.get_json()["time"] == "2026-03-02T12:00:00+00:00"
    assert fresh.get_json()["time"] == "2026-03-02T12:00:10+00:00"


def test_firestore_down_skips_storing_but_still_answers(
    health_settings: MakeSettings, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: object) -> Outcome:
        raise ConnectionError("firestore unreachable")

    monkeypatch.setattr(probes, "firestore_probe", down)
    settings = health_settings()

    response = call(settings, clock)

    assert response.status_code == 503
    stored = firestore_client(settings).collection(Collections.HEALTH).document("last").get()
    assert not stored.exists


def test_refused_detail_requests_are_counted(
    health_settings: MakeSettings, clock: ManualClock
) -> None:
    from monitoring.kpi.recorder import get_recorder

    settings = health_settings()
    call(settings, clock, headers={"X-API-Key": "wrong"})
    get_recorder(settings).flush(clock.now())

    minute = Window(START, START + timedelta(minutes=1))
    refused = KpiQuery(settings).aggregate(
        "auth_refused", "sum", minute, {"endpoint": "health_check", "status": "401"}
    )
    assert refused == 1.0


def test_checks_that_cannot_even_be_built_answer_503(
    health_settings: MakeSettings, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> list[object]:
        raise RuntimeError("bug")

    monkeypatch.setattr(probes, "build_checks", broken)

    response = call(health_settings(), clock)

    assert response.status_code == 503
    assert response.get_json() == {"status": "unhealthy", "time": "2026-03-02T12:00:00+00:00"}


def test_the_scheduled_probe_publishes_status_and_uptime_without_any_request(
    health_settings: MakeSettings, receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitoring import config, entrypoints

    receiver.script("/api/ping", Reply(500))
    settings = health_settings(endpoints=[_api(receiver)])
    monkeypatch.setattr(config, "cached_settings", lambda: settings)

    entrypoints.probe_health(START)

    db = firestore_client(settings)
    status = db.collection(Collections.STATUS).document("components").get().to_dict()
    assert status["components"] == {
        "firestore": "healthy",
        "storage": "healthy",
        "api": "unhealthy",
    }
    minute = Window(START, START + timedelta(minutes=1))
    up = KpiQuery(settings).aggregate_by("component_up", "last", minute, by="component")
    assert up == {"firestore": 1.0, "storage": 1.0, "api": 0.0}


def test_an_llm_key_of_unset_switches_the_llm_probe_off(health_settings: MakeSettings) -> None:
    assert health_settings(llm_api_key="unset").health.llm_api_key is None
    assert health_settings(llm_api_key="sk-or-1").health.llm_api_key is not None
