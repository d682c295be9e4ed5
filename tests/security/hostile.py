"""Hypothesis strategies for hostile HTTP requests, and a snapshot of stored state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import strategies as st

from monitoring.kpi.events import EVENT_TYPES
from monitoring.localstack.emulators import FirestoreEmulator
from tests.security.secrets import TEST_API_KEY, TEST_INGEST_KEY
from tests.security.tokens import id_token

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]

# What a real front end passes in a header value: latin-1, no line breaks.
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=300,
)
any_text = st.text(max_size=200)  # any unicode, surrogates and NULs included
huge_text = st.integers(1_000, 400_000).map(lambda n: "\u00e9" * n)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | any_text
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(any_text, inner, max_size=6),
    max_leaves=30,
)


@st.composite
def deep_nesting(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(50, 200_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    return (opener * depth + "1" + closer * depth).encode()


def _event(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    fields = st.dictionaries(
        st.sampled_from(
            [
                "endpoint",
                "method",
                "response_time_ms",
                "status_code",
                "user_id",
                "at",
                "function",
                "duration_ms",
                "memory_mb",
                "success",
                "cold_start",
                "page",
                "load_time_ms",
                "model",
                "tokens",
                "cost_usd",
                "status",
                "processing_ms",
                "feature",
                "cache",
                "hits",
                "misses",
                "metric",
                "value",
                "labels",
                "reason",
            ]
        ),
        json_values | huge_text | st.integers(-(2**70), 2**70),
        max_size=8,
    )
    return fields.map(lambda f: {"type": kind, **f})


events_body = st.fixed_dictionaries(
    {"events": st.lists(st.sampled_from(EVENT_TYPES).flatmap(_event) | json_values, max_size=20)}
)

body = st.one_of(
    st.none(),
    json_values.map(lambda v: json.dumps(v).encode()),
    events_body.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=2000),
    huge_text.map(lambda s: json.dumps({"events": [], "pad": s}).encode()),
    deep_nesting(),
)

credentials = st.sampled_from(
    [
        {},
        {"X-API-Key": TEST_API_KEY},
        {"X-Ingest-Key": TEST_INGEST_KEY},
        {"Authorization": f"Bearer {id_token('fuzz-user')}"},
        {"Authorization": f"Bearer {id_token('fuzz-admin', admin=True)}"},
    ]
) | st.dictionaries(
    st.sampled_from(["X-API-Key", "X-Ingest-Key", "Authorization", "Cookie"]),
    header_text,
    max_size=2,
)

other_headers = st.dictionaries(
    st.sampled_from(
        ["Content-Type", "Accept", "X-Forwarded-For", "If-None-Match", "Range", "Content-Encoding"]
    ),
    header_text,
    max_size=3,
)


@dataclass
class HostileRequest:
    method: str
    subpath: str
    query: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def describe(self) -> str:
        shown = None if self.body is None else self.body[:300]
        return (
            f"{self.method} /<fn>{self.subpath} query={self.query!r} headers={self.headers!r} "
            f"body({0 if self.body is None else len(self.body)} bytes)={shown!r}"
        )


@st.composite
def hostile_requests(draw: st.DrawFn, *, events: bool = False) -> HostileRequest:
    method = draw(st.sampled_from(METHODS) if not events else st.sampled_from(["POST", *METHODS]))
    segment = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=30)
    subpath = draw(st.just("") | segment.map(lambda s: "/" + s.replace("?", "").replace("#", "")))
    query = draw(
        st.dictionaries(
            st.sampled_from(["detail", "format", "range", "page", "q"]) | any_text,
            any_text | st.sampled_from(["1", "json", "24h", "7d", "true"]),
            max_size=4,
        )
    )
    headers = {**draw(other_headers), **draw(credentials)}
    payload = draw(events_body.map(lambda v: json.dumps(v).encode()) if events else body)
    return HostileRequest(method, subpath, query, headers, payload)


# Stored state ----------------------------------------------------------------------------------

# Written on every call whatever the answer: the function's heartbeat and performance
# metrics, rate-limit counters, the health probe and the status page data it publishes.
BOOKKEEPING_COLLECTIONS = ("fw_heartbeats", "fw_rate_limits", "fw_health", "fw_status", "fw_locks")
BOOKKEEPING_METRICS = ("function_", "cold_starts", "auth_refused", "api_")


def snapshot(emulator: FirestoreEmulator) -> dict[str, str]:
    """Return ``{path: fields as JSON}`` for every document except per-call bookkeeping."""
    root = f"projects/{emulator.project_id}/databases/(default)/documents"
    reply = httpx.post(
        f"{emulator.url}/v1/{root}:runQuery",
        json={"structuredQuery": {"from": [{"allDescendants": True}]}},
        headers={"Authorization": "Bearer owner"},
        timeout=30.0,
    )
    reply.raise_for_status()
    state = {}
    for row in reply.json():
        document = row.get("document")
        if document is None:
            continue
        path = document["name"].removeprefix(root + "/")
        fields = json.dumps(document.get("fields", {}), sort_keys=True)
        if path.startswith(BOOKKEEPING_COLLECTIONS) or _bookkeeping_metric(path, fields):
            continue
        state[path] = fields
    return state


def _bookkeeping_metric(path: str, fields: str) -> bool:
    names = [*path.split("/"), *(part for part in fields.split('"'))]
    return any(name.startswith(BOOKKEEPING_METRICS) for name in names)
