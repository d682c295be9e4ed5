"""Authentication of the HTTP functions, and monitoring.auth on its own.

Every refused credential gets the same short answer: 401 ``{"error": "unauthorized"}`` (or
403 ``{"error": "forbidden"}`` for a valid user without the admin claim), with nothing in
it about why, and never the credential itself.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from monitoring.auth import Principal, authenticate, keys_match, require_admin
from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.errors import AuthError, Forbidden
from tests.conftest import START
from tests.security.secrets import TEST_API_KEY
from tests.security.tokens import bearer, id_token

NOW = START.timestamp()
ADMIN_TOKEN = id_token("root", issued_at=NOW - 60, admin=True)
USER_TOKEN = id_token("alice", issued_at=NOW - 60)

# (function, how to ask for what needs an admin)
GUARDED = {
    "health_check": ("GET", "/health_check?detail=1", None),
    "dashboard": ("GET", "/dashboard?format=json", None),
    "record_metrics": (
        "POST",
        "/record_metrics",
        {"events": [{"type": "feature", "feature": "search"}]},
    ),
}

REFUSED = {
    "missing": {},
    "expired": bearer(id_token("root", issued_at=NOW - 7200, lifetime_s=3600, admin=True)),
    "expired-by-a-second": bearer(id_token("root", issued_at=NOW - 3601, admin=True)),
    "issued-in-the-future": bearer(id_token("root", issued_at=NOW + 600, admin=True)),
    "no-expiry": bearer(id_token("root", issued_at=NOW - 60, admin=True, exp=None)),
    "wrong-project": bearer(id_token("root", issued_at=NOW - 60, project="demo-other", admin=True)),
    "malformed": bearer("not.a.jwt"),
    "garbage-base64": bearer("eyJ!!!.@@@.###"),
    "empty-bearer": {"Authorization": "Bearer "},
    "basic-scheme": {"Authorization": "Basic cm9vdDpyb290"},
    "huge-token": bearer("a" * 20_000),
    "wrong-api-key": {"X-API-Key": TEST_API_KEY + "x"},
    "api-key-prefix": {"X-API-Key": TEST_API_KEY[:-1]},
    "empty-api-key": {"X-API-Key": ""},
}


def _call(client: FlaskClient, function: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    method, path, body = GUARDED[function]
    return client.open(path, method=method, headers=headers, json=body)


@pytest.mark.parametrize("credential", REFUSED)
@pytest.mark.parametrize("function", GUARDED)
def test_refused_credentials_get_401_and_nothing_more(
    client: FlaskClient, function: str, credential: str
) -> None:
    headers = REFUSED[credential]
    if function == "record_metrics" and credential == "missing":
        headers = {}
    reply = _call(client, function, headers)
    assert reply.status_code == 401
    assert reply.get_json() == {"error": "unauthorized"}
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="firewatch"'
    for value in headers.values():
        token = value.removeprefix("Bearer ")
        if len(token) >= 6:
            assert token not in reply.get_data(as_text=True)


@pytest.mark.parametrize("function", ["health_check", "dashboard"])
def test_signed_in_user_without_admin_claim_gets_403(client: FlaskClient, function: str) -> None:
    reply = _call(client, function, bearer(USER_TOKEN))
    assert reply.status_code == 403
    assert reply.get_json() == {"error": "forbidden"}


@pytest.mark.parametrize(
    "credential",
    [{"X-API-Key": TEST_API_KEY}, bearer(ADMIN_TOKEN)],
    ids=["api-key", "admin-token"],
)
@pytest.mark.parametrize("function", GUARDED)
def test_valid_admin_credentials_are_let_through(
    client: FlaskClient, function: str, credential: dict[str, str]
) -> None:
    reply = _call(client, function, credential)
    assert reply.status_code not in (401, 403), reply.get_data(as_text=True)[:200]
    assert reply.status_code < 500 or function == "health_check"  # 503 = a dependency down


def test_refused_credential_reason_stays_out_of_the_answer(client: FlaskClient) -> None:
    answers = {
        json.dumps(_call(client, "dashboard", REFUSED[name]).get_json())
        for name in ("expired", "wrong-project", "malformed", "wrong-api-key")
    }
    assert answers == {'{"error": "unauthorized"}'}


# monitoring.auth directly --------------------------------------------------------------------


def _authenticate(settings: Settings, headers: dict[str, str], at: float) -> Principal | None:
    from datetime import UTC, datetime

    with Flask(__name__).test_request_context("/", headers=headers):
        return authenticate(request, settings, now=datetime.fromtimestamp(at, UTC))


def test_a_token_is_good_until_its_expiry_second(settings: Settings) -> None:
    token = bearer(id_token("alice", issued_at=NOW, lifetime_s=3600))
    principal = _authenticate(settings, token, NOW + 3599)
    assert principal == Principal(uid="alice", admin=False, method="id_token")
    with pytest.raises(AuthError):
        _authenticate(settings, token, NOW + 3600)


def test_a_token_issued_slightly_ahead_of_our_clock_is_accepted(settings: Settings) -> None:
    token = bearer(id_token("alice", issued_at=NOW + 30))
    assert _authenticate(settings, token, NOW) is not None
    with pytest.raises(AuthError):
        _authenticate(settings, bearer(id_token("alice", issued_at=NOW + 61)), NOW)


@pytest.mark.parametrize("claim", [True, "true", 1, None], ids=["true", "string", "one", "absent"])
def test_only_a_boolean_true_admin_claim_makes_an_admin(settings: Settings, claim: object) -> None:
    extra = {} if claim is None else {"admin": claim}
    principal = _authenticate(settings, bearer(id_token("u", issued_at=NOW, **extra)), NOW)
    assert principal is not None
    assert principal.admin is (claim is True)


def test_require_admin_refuses_missing_and_non_admin(
    settings: Settings, clock: ManualClock
) -> None:
    app = Flask(__name__)
    with app.test_request_context("/"), pytest.raises(AuthError) as missing:
        require_admin(request, settings, now=clock.now())
    assert type(missing.value) is AuthError
    with app.test_request_context("/", headers=bearer(USER_TOKEN)), pytest.raises(Forbidden):
        require_admin(request, settings, now=clock.now())


def test_unsigned_tokens_are_refused_outside_the_emulators(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FIREBASE_AUTH_EMULATOR_HOST makes the SDK skip signatures; set by mistake in a real
    # deployment it must lock ID tokens out rather than let anyone in.
    deployed = settings.model_copy(update={"firestore_emulator_host": None})
    with pytest.raises(AuthError):
        _authenticate(deployed, bearer(ADMIN_TOKEN), NOW)
    assert _authenticate(settings, bearer(ADMIN_TOKEN), NOW) is not None


def test_api_key_comparison_hashes_both_sides(settings: Settings) -> None:
    assert keys_match(TEST_API_KEY, TEST_API_KEY)
    assert not keys_match(TEST_API_KEY[:-1], TEST_API_KEY)
    assert not keys_match("\udcff" + TEST_API_KEY, TEST_API_KEY)


def test_api_key_comparison_takes_the_same_time_whatever_the_length() -> None:
    # Not a benchmark: a gross length-dependent shortcut (1000x) would show even on a busy
    # machine, while hashing both sides keeps the comparison itself constant.
    def cost(given: str) -> float:
        began = time.perf_counter()
        for _ in range(2000):
            keys_match(given, TEST_API_KEY)
        return time.perf_counter() - began

    short, equal = min(cost("x") for _ in range(3)), min(cost(TEST_API_KEY) for _ in range(3))
    assert short > equal / 20


def test_refusal_logs_no_token(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="monitoring.auth")
    token = id_token("root", issued_at=NOW - 7200, lifetime_s=60, admin=True)
    with pytest.raises(AuthError):
        _authenticate(settings, bearer(token), NOW)
    assert caplog.records, "a refusal leaves a debug line for operators"
    assert all(token not in r.getMessage() and "eyJ" not in r.getMessage() for r in caplog.records)


def test_expiry_is_checked_against_the_injected_clock(settings: Settings) -> None:
    token = bearer(id_token("alice", issued_at=NOW, lifetime_s=60))
    assert _authenticate(settings, token, NOW + timedelta(seconds=59).total_seconds())
    with pytest.raises(AuthError):
        _authenticate(settings, token, NOW + 61)
