"""What a careless client is told: the right 4xx, and a message naming the field."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.security.secrets import TEST_INGEST_KEY

HEADERS = {"X-Ingest-Key": TEST_INGEST_KEY}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_record_metrics_refuses_other_methods_with_405_and_allow(
    client: FlaskClient, method: str
) -> None:
    reply = client.open("/record_metrics", method=method, headers=HEADERS)
    assert reply.status_code == 405
    assert reply.headers["Allow"] == "POST, OPTIONS"
    assert reply.get_json() == {"error": "send events with POST"}


def test_record_metrics_names_each_bad_event_by_index_and_field(client: FlaskClient) -> None:
    good = {"type": "api", "endpoint": "/a", "method": "GET", "status_code": 200}
    events = [1, {**good, "response_time_ms": "fast"}, {**good, "response_time_ms": 1e309}]
    reply = client.post("/record_metrics", headers=HEADERS, json={"events": events})
    assert reply.status_code == 400
    body = reply.get_json()
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (0, "(event)"),
        (1, "response_time_ms"),
        (2, "response_time_ms"),
    ]
    assert body["error"].startswith("events[0].(event): ")
