"""Fixtures of the health tests: emulator settings with health overrides, Flask requests."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, Request, Response, request

from monitoring.clock import Clock
from monitoring.config import Settings
from monitoring.health import endpoint, web
from monitoring.localstack.emulators import FirestoreEmulator, StorageEmulator
from tests.conftest import make_settings

MakeSettings = Callable[..., Settings]

# Built-in checks that need nothing but the two emulators; auth and functions are tested on
# their own, so the other tests switch them off unless they are about them.
ONLY_STORES = ["auth", "functions"]


@pytest.fixture(autouse=True)
def _fresh_health_state() -> Iterator[None]:
    endpoint.reset_cache()
    yield
    endpoint.reset_cache()


@pytest.fixture
def health_settings(
    settings: Settings,
    firestore_emulator: FirestoreEmulator,
    storage_emulator: StorageEmulator,
) -> MakeSettings:
    """Return a factory of emulator settings with ``health`` fields overridden."""

    def build(**health: Any) -> Settings:
        # Generous defaults: a first gRPC call on a loaded CI machine can take seconds, and
        # only the tests about latency or deadlines should see it; they set their own.
        values = {
            "disabled": ONLY_STORES,
            "cache_s": 0,
            "timeout_s": 10.0,
            "degraded_after_ms": 8000,
            **health,
        }
        return make_settings(firestore_emulator, storage_emulator, health=values)

    return build


_app = Flask(__name__)


def call(
    settings: Settings,
    clock: Clock,
    path: str = "/",
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> Response:
    """Send one request to the health handler, as the functions framework would."""
    with _app.test_request_context(path, method=method, headers=headers or {}):
        req: Request = request  # type: ignore[assignment]
        return endpoint.handle(req, settings, clock)


def unsigned_token(uid: str, **claims: Any) -> str:
    """Return an unsigned ID token, which the Admin SDK accepts in emulator mode only."""

    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    payload = {
        "iss": "https://securetoken.google.com/demo-firewatch-test",
        "aud": "demo-firewatch-test",
        "auth_time": 1,
        "iat": 1,
        "exp": 4102444800,
        "sub": uid,
        "user_id": uid,
        **claims,
    }
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."


__all__ = ["MakeSettings", "call", "unsigned_token", "web"]
