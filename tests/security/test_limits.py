"""Limits of the ingest function: body size, events per request, string lengths, label
cardinality per metric and requests per client per minute. A refused request stores nothing
and its answer names the limit without echoing the input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from monitoring import ratelimit
from monitoring.config import Settings, cached_settings
from tests.security.secrets import TEST_INGEST_KEY

KEY = {"X-Ingest-Key": TEST_INGEST_KEY}


@pytest.fixture(autouse=True)
def _fresh_limiter() -> Iterator[None]:
    ratelimit.forget_refusals()
    yield
    ratelimit.forget_refusals()


@pytest.fixture
def limited(monkeypatch: pytest.MonkeyPatch, client: FlaskClient):  # type: ignore[no-untyped-def]
    """Set ``FIREWATCH_KPI__*`` limits for the functions, then return the client."""

    def apply(**limits: int) -> FlaskClient:
        for name, value in limits.items():
            monkeypatch.setenv(f"FIREWATCH_KPI__{name.upper()}", str(value))
        cached_settings.cache_clear()
        return client

    return apply


def _features(*names: str) -> dict[str, object]:
    return {"events": [{"type": "feature", "feature": name} for name in names]}


def _stored_features(db) -> str:  # type: ignore[no-untyped-def]
    """Return every stored rollup of feature_usage as text (labels included)."""
    docs = db.collection("fw_rollups").stream()
    return repr([doc.to_dict() for doc in docs if "feature_usage" in doc.id])


def test_a_body_over_the_size_limit_is_413_and_not_read(limited, function_env: Settings) -> None:  # type: ignore[no-untyped-def]
    client = limited(ingest_max_bytes=1024)
    reply = client.post(
        "/record_metrics", json=_features("x" * 150, "y" * 150) | {"pad": "z" * 2000}, headers=KEY
    )
    assert reply.status_code == 413
    assert reply.get_json() == {"error": "body is larger than 1024 bytes"}


def test_a_declared_length_over_the_limit_is_refused_before_reading(limited) -> None:  # type: ignore[no-untyped-def]
    client = limited(ingest_max_bytes=1024)
    headers = {**KEY, "Content-Length": "5000000", "Content-Type": "application/json"}
    reply = client.post(
        "/record_metrics",
        data=b'{"events": []}',
        headers=headers,
        environ_overrides={"CONTENT_LENGTH": "5000000"},
    )
    assert reply.status_code == 413


def test_too_many_events_in_one_request_is_413_and_stores_none(limited, db) -> None:  # type: ignore[no-untyped-def]
    client = limited(ingest_max_events=3)
    reply = client.post("/record_metrics", json=_features("a", "b", "c", "d"), headers=KEY)
    assert reply.status_code == 413
    assert reply.get_json() == {"error": "4 events in one request; send at most 3"}
    assert _stored_features(db) == "[]"


def test_an_overlong_string_is_refused_by_field_without_echoing_it(limited, db) -> None:  # type: ignore[no-untyped-def]
    client = limited()
    long_name = "secret-looking-" + "q" * 300
    reply = client.post("/record_metrics", json=_features(long_name, "search"), headers=KEY)
    body = reply.get_json()
    assert reply.status_code == 200
    assert body["accepted"] == 1
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(0, "feature")]
    assert long_name not in reply.get_data(as_text=True)
    assert "secret-looking" not in _stored_features(db)


def test_a_flood_of_new_label_values_is_refused_not_stored(limited, db) -> None:  # type: ignore[no-untyped-def]
    client = limited(max_series_per_metric=3)
    names = [f"flood-{i}" for i in range(8)]
    reply = client.post("/record_metrics", json=_features(*names), headers=KEY)
    body = reply.get_json()
    assert body["accepted"] == 3
    assert [r["index"] for r in body["rejected"]] == [3, 4, 5, 6, 7]
    assert {r["field"] for r in body["rejected"]} == {"labels"}
    stored = _stored_features(db)
    assert "flood-2" in stored
    assert not any(f"flood-{i}" in stored for i in range(3, 8))


def test_requests_per_client_per_minute_are_limited(limited) -> None:  # type: ignore[no-untyped-def]
    client = limited(ingest_rate_per_minute=2)
    statuses = [
        client.post("/record_metrics", json=_features("search"), headers=KEY).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    refused = client.post("/record_metrics", json=_features("search"), headers=KEY)
    assert refused.headers["Retry-After"] == "60"
    other = client.post(
        "/record_metrics",
        json=_features("search"),
        headers=KEY,
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert other.status_code == 200  # another client has its own budget


def test_the_rate_limit_can_be_turned_off(limited) -> None:  # type: ignore[no-untyped-def]
    client = limited(ingest_rate_per_minute=0)
    statuses = {
        client.post("/record_metrics", json=_features("search"), headers=KEY).status_code
        for _ in range(4)
    }
    assert statuses == {200}
