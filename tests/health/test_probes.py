"""Firestore, Cloud Storage and Firebase Auth probes against real local servers.

Firebase Auth: in the suite the Admin SDK's own client is pointed, through
FIREBASE_AUTH_EMULATOR_HOST, at the scripted HTTP receiver standing in for the Auth
emulator: the SDK's request (path, headers, JSON answer) is the one the emulator and
production receive, and the receiver can also refuse or hang. The real emulator is in the
npm package firebase-tools and needs no Java; `firebase emulators:start --only auth` did not
become ready within 150 s here (it waits on network look-ups this machine cannot make), and
``test_auth_probe_against_the_real_auth_emulator`` also runs the probe against the real
emulator, started from its own code by the shared ``auth_emulator`` fixture (tests/conftest.py)
when firebase-tools is installed globally (``npm i -g firebase-tools``; .ci/run does that).
"""

from __future__ import annotations

import time

import pytest

from monitoring.config import Settings
from monitoring.health.checks import run_checks
from monitoring.health.probes import PROBE_DOCUMENT, PROBE_OBJECT, build_checks
from monitoring.localstack.catchers import HttpReceiver, Reply
from monitoring.store import Collections, firestore_client, storage_client
from tests.conftest import BUCKET, PROJECT, START
from tests.health.conftest import MakeSettings

AUTH_PATH = f"/identitytoolkit.googleapis.com/v1/projects/{PROJECT}/accounts:batchGet"


def _run(settings: Settings):  # type: ignore[no-untyped-def]
    return run_checks(settings, START, checks=build_checks(settings, START))


def test_firestore_probe_writes_and_reads_its_document(health_settings: MakeSettings) -> None:
    settings = health_settings(disabled=["storage", "auth", "functions"])

    report = _run(settings)

    assert report.component("firestore").status == "healthy"  # type: ignore[union-attr]
    probe = firestore_client(settings).collection(Collections.HEALTH).document(PROBE_DOCUMENT)
    assert probe.get().to_dict()["at"] == START


def test_storage_probe_writes_into_the_backup_bucket(health_settings: MakeSettings) -> None:
    settings = health_settings(disabled=["firestore", "auth", "functions"])

    report = _run(settings)

    assert report.status == "healthy"
    blob = storage_client(settings).bucket(BUCKET).blob(PROBE_OBJECT)
    assert blob.download_as_bytes() == START.isoformat().encode()


def test_storage_probe_names_a_missing_bucket(
    health_settings: MakeSettings, firestore_emulator, storage_emulator
) -> None:
    from tests.conftest import make_settings

    settings = make_settings(
        firestore_emulator,
        storage_emulator,
        backup={"bucket": "no-such-bucket"},
        health={"disabled": ["firestore", "auth", "functions"]},
    )

    storage = _run(settings).component("storage")

    assert storage.status == "unhealthy"  # type: ignore[union-attr]
    assert storage.reason == "backup bucket 'no-such-bucket' does not exist"  # type: ignore[union-attr]


def test_firestore_unreachable_is_unhealthy_within_the_timeout(
    health_settings: MakeSettings, firestore_emulator, storage_emulator, monkeypatch
) -> None:
    from tests.conftest import make_settings

    settings = make_settings(
        firestore_emulator,
        storage_emulator,
        FIRESTORE_EMULATOR_HOST="127.0.0.1:9",
        health={"disabled": ["storage", "auth", "functions"], "timeout_s": 0.5},
    )

    began = time.perf_counter()
    firestore = _run(settings).component("firestore")

    assert time.perf_counter() - began < 0.5 + 0.5
    assert firestore.status == "unhealthy"  # type: ignore[union-attr]


@pytest.fixture
def auth_stand_in(receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch) -> HttpReceiver:
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{receiver.port}")
    return receiver


def test_auth_probe_asks_the_admin_api_for_one_user(
    health_settings: MakeSettings, auth_stand_in: HttpReceiver
) -> None:
    auth_stand_in.script(AUTH_PATH, Reply(200, {"users": []}))

    report = _run(health_settings(disabled=["firestore", "storage", "functions"]))

    assert report.component("auth").status == "healthy"  # type: ignore[union-attr]
    (sent,) = auth_stand_in.requests(AUTH_PATH)
    assert "maxResults=1" in sent.path
    assert (sent.header("X-Client-Version") or "").startswith("Python/Admin/")


def test_auth_refusal_is_unhealthy_with_the_code(
    health_settings: MakeSettings, auth_stand_in: HttpReceiver
) -> None:
    refusal = {
        "error": {"code": 403, "message": "PERMISSION_DENIED", "status": "PERMISSION_DENIED"}
    }
    auth_stand_in.script(AUTH_PATH, Reply(403, refusal))

    auth = _run(health_settings(disabled=["firestore", "storage", "functions"])).component("auth")

    assert auth.status == "unhealthy"  # type: ignore[union-attr]
    assert auth.reason == "Firebase Auth answered PERMISSION_DENIED (HTTP 403)"  # type: ignore[union-attr]


def test_auth_hanging_is_unhealthy_within_the_timeout(
    health_settings: MakeSettings, auth_stand_in: HttpReceiver
) -> None:
    auth_stand_in.script(AUTH_PATH, Reply(hang=True))
    settings = health_settings(disabled=["firestore", "storage", "functions"], timeout_s=0.5)

    began = time.perf_counter()
    auth = _run(settings).component("auth")

    assert time.perf_counter() - began < 0.5 + 0.5
    assert auth.reason == "no answer within 0.5 s"  # type: ignore[union-attr]


def test_auth_emulator_not_running_only_degrades(health_settings: MakeSettings) -> None:
    # tests/conftest.py points FIREBASE_AUTH_EMULATOR_HOST at a port nothing listens on, as
    # `firewatch dev` does when no Auth emulator runs.
    auth = _run(health_settings(disabled=["firestore", "storage", "functions"])).component("auth")

    assert auth.status == "degraded"  # type: ignore[union-attr]
    assert auth.reason == "no Auth emulator answering at 127.0.0.1:9"  # type: ignore[union-attr]


@pytest.fixture
def real_auth_emulator(auth_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", auth_emulator)
    return auth_emulator


def test_auth_probe_against_the_real_auth_emulator(
    health_settings: MakeSettings, real_auth_emulator: str
) -> None:
    auth = _run(health_settings(disabled=["firestore", "storage", "functions"])).component("auth")

    assert (auth.status, auth.reason) == ("healthy", "ok")  # type: ignore[union-attr]
