"""monitoring.ratelimit: fixed-window requests-per-minute counters in Firestore."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask, request

from monitoring import ratelimit
from monitoring.auth import Principal
from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.errors import RateLimited
from monitoring.http import guarded
from monitoring.ratelimit import check_rate, client_id_for
from monitoring.store import Collections


@pytest.fixture(autouse=True)
def _fresh_memory() -> Iterator[None]:
    ratelimit.forget_refusals()
    yield
    ratelimit.forget_refusals()


def test_requests_up_to_the_limit_are_allowed_and_counted(
    settings: Settings, clock: ManualClock
) -> None:
    decisions = [check_rate(settings, "app-1", 3, clock.now()) for _ in range(3)]
    assert [d.count for d in decisions] == [1, 2, 3]
    assert decisions[-1].remaining == 0


def test_the_request_over_the_limit_is_refused_until_the_next_minute(
    settings: Settings, clock: ManualClock
) -> None:
    clock.advance(timedelta(seconds=15))
    for _ in range(2):
        check_rate(settings, "app-1", 2, clock.now())
    with pytest.raises(RateLimited) as refused:
        check_rate(settings, "app-1", 2, clock.now())
    assert refused.value.status_code == 429
    assert refused.value.retry_after == 45.0


def test_a_new_minute_starts_a_new_window(settings: Settings, clock: ManualClock) -> None:
    clock.advance(timedelta(seconds=59))
    check_rate(settings, "app-1", 1, clock.now())
    with pytest.raises(RateLimited):
        check_rate(settings, "app-1", 1, clock.now())
    clock.advance(timedelta(seconds=1))
    assert check_rate(settings, "app-1", 1, clock.now()).count == 1


def test_clients_are_counted_separately(settings: Settings, clock: ManualClock) -> None:
    check_rate(settings, "app-1", 1, clock.now())
    assert check_rate(settings, "app-2", 1, clock.now()).count == 1


def test_a_limit_of_zero_turns_limiting_off(settings: Settings, clock: ManualClock, db) -> None:
    for _ in range(5):
        check_rate(settings, "app-1", 0, clock.now())
    assert list(db.collection(Collections.RATE_LIMITS).stream()) == []


def test_the_counter_is_shared_between_instances(settings: Settings, clock: ManualClock) -> None:
    check_rate(settings, "app-1", 2, clock.now())
    ratelimit.forget_refusals()  # what a second instance remembers: nothing
    check_rate(settings, "app-1", 2, clock.now())
    with pytest.raises(RateLimited):
        check_rate(settings, "app-1", 2, clock.now())


def test_a_known_full_window_is_refused_without_counting(
    settings: Settings, clock: ManualClock, db
) -> None:
    check_rate(settings, "app-1", 1, clock.now())
    with pytest.raises(RateLimited):
        check_rate(settings, "app-1", 1, clock.now())
    for _ in range(3):
        with pytest.raises(RateLimited):
            check_rate(settings, "app-1", 1, clock.now())
    counts = [doc.to_dict()["count"] for doc in db.collection(Collections.RATE_LIMITS).stream()]
    assert counts == [2]


def test_counters_store_no_client_id_and_expire(settings: Settings, clock: ManualClock, db) -> None:
    check_rate(settings, "api_key:very-private-client", 5, clock.now())
    (doc,) = list(db.collection(Collections.RATE_LIMITS).stream())
    assert "very-private-client" not in doc.id + repr(doc.to_dict())
    assert doc.to_dict()["expires_at"] == clock.now() + timedelta(minutes=1, hours=1)


def test_a_refusal_answers_429_with_retry_after(settings: Settings, clock: ManualClock) -> None:
    clock.advance(timedelta(seconds=50))

    @guarded("limited")
    def handler(req):  # type: ignore[no-untyped-def]
        check_rate(settings, "app-1", 0 if req.args.get("off") else 1, clock.now())
        return "unused"

    check_rate(settings, "app-1", 1, clock.now())
    with Flask(__name__).test_request_context("/"):
        response = handler(request)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "10"
    assert response.get_json() == {"error": "too many requests; retry after the Retry-After delay"}


@pytest.mark.parametrize(
    ("principal", "headers", "remote", "expected"),
    [
        (
            Principal("u1", False, "id_token"),
            {"X-Forwarded-For": "1.1.1.1"},
            "2.2.2.2",
            "uid:u1",
        ),
        (Principal("ingest-key", True, "ingest_key"), {}, "2.2.2.2", "ip:2.2.2.2"),
        (None, {}, "2.2.2.2", "ip:2.2.2.2"),
        (None, {"X-Forwarded-For": "6.6.6.6, 3.3.3.3"}, "10.0.0.1", "ip:3.3.3.3"),
        (None, {"X-Forwarded-For": " , "}, "2.2.2.2", "ip:2.2.2.2"),
    ],
    ids=[
        "signed-in-user",
        "shared-key-counts-by-address",
        "remote-address",
        "last-forwarded-hop",
        "empty-forwarded",
    ],
)
def test_client_id_is_the_signed_in_user_else_the_address_the_front_end_saw(
    principal: Principal | None, headers: dict[str, str], remote: str, expected: str
) -> None:
    app = Flask(__name__)
    with app.test_request_context("/", headers=headers, environ_base={"REMOTE_ADDR": remote}):
        assert client_id_for(request, principal) == expected
