"""Shared fixtures: the real local stack, started once per session and reset per test.

- ``firestore_emulator``: the official Firestore emulator (a Java process), data cleared
  before every test that uses ``settings`` through the emulator's reset endpoint.
- ``storage_emulator``: gcp-storage-emulator, objects wiped per test.
- ``mailbox``: an aiosmtpd server that keeps what it receives.
- ``receiver``: an HTTP server that records requests and answers as scripted.
- ``clock``: a ManualClock; tests move it instead of sleeping.

An autouse fixture strips Google credentials and project variables, so no test can reach a
real project.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitoring.clock import ManualClock
from monitoring.config import Settings, load_settings
from monitoring.localstack.catchers import HttpReceiver, MailCatcher
from monitoring.localstack.emulators import FirestoreEmulator, StorageEmulator
from monitoring.store import firestore_client, reset_clients
from tests.security.secrets import TEST_API_KEY

REPO = Path(__file__).resolve().parent.parent
PROJECT = "demo-firewatch-test"
BUCKET = "firewatch-test-backups"
START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday, noon UTC

_STRIPPED_PREFIXES = ("FIREWATCH_", "GOOGLE_", "GCLOUD_", "CLOUDSDK_")
_STRIPPED = {"K_SERVICE", "FIREBASE_CONFIG", "FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST"}


def pytest_configure(config: pytest.Config) -> None:
    # Fails the run when a test secret shows up in a log line or a stored document.
    from tests.security.secret_scan import PLUGIN_NAME, SecretScan

    if not config.pluginmanager.has_plugin(PLUGIN_NAME):
        config.pluginmanager.register(SecretScan(), PLUGIN_NAME)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(_STRIPPED_PREFIXES) or name in _STRIPPED:
            monkeypatch.delenv(name)
    monkeypatch.setenv("FIREWATCH_STATE_DIR", str(tmp_path / "state"))
    # Unsigned ID tokens are accepted only in emulator mode; nothing listens on this port.
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9")
    # What an instance sent as immediate events is process state; each test starts afresh.
    from monitoring.kpi.immediate import reset_gate

    reset_gate()


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[FirestoreEmulator]:
    emulator = FirestoreEmulator(PROJECT, rules=REPO / "firestore.rules").start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def storage_emulator() -> Iterator[StorageEmulator]:
    emulator = StorageEmulator(default_bucket=BUCKET).start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def _smtp_server() -> Iterator[MailCatcher]:
    with MailCatcher() as server:
        yield server


@pytest.fixture
def mailbox(_smtp_server: MailCatcher) -> MailCatcher:
    _smtp_server.reset()
    return _smtp_server


@pytest.fixture(scope="session")
def _http_receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


@pytest.fixture
def receiver(_http_receiver: HttpReceiver) -> Iterator[HttpReceiver]:
    _http_receiver.reset()
    yield _http_receiver
    _http_receiver.reset()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def make_settings(
    firestore_emulator: FirestoreEmulator,
    storage_emulator: StorageEmulator | None = None,
    **overrides: object,
) -> Settings:
    """Settings pointed at the test emulators; ``.env`` files are ignored."""
    values: dict[str, object] = {
        "_env_file": None,
        "FIREWATCH_PROJECT_ID": PROJECT,
        "FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
        "api_key": TEST_API_KEY,  # the secret scan looks for it everywhere
        "alerts_file": REPO / "alerts.yaml",
    }
    if storage_emulator is not None:
        values["STORAGE_EMULATOR_HOST"] = storage_emulator.host
        values["backup"] = {"bucket": BUCKET}
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(
    firestore_emulator: FirestoreEmulator,
    storage_emulator: StorageEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    """Settings for the emulators, with Firestore and Storage emptied first."""
    firestore_emulator.reset()
    storage_emulator.reset()
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage_emulator.host)
    reset_clients()
    return make_settings(firestore_emulator, storage_emulator)


@pytest.fixture
def db(settings: Settings):  # type: ignore[no-untyped-def]
    return firestore_client(settings)


# firebase-tools' Auth emulator (JavaScript), shared by the health and lockdown tests ------


def _firebase_tools() -> Path | None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None
    root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, check=False)
    folder = Path(root.stdout.strip()) / "firebase-tools"
    return folder if (folder / "lib/emulator/auth/server.js").exists() else None


@pytest.fixture(scope="session")
def auth_emulator() -> Iterator[str]:
    """Return host:port of firebase-tools' Auth emulator (skips when it is not installed)."""
    tools = _firebase_tools()
    if tools is None:
        pytest.skip("firebase-tools is not installed (npm i -g firebase-tools)")
    process = subprocess.Popen(
        ["node", str(REPO / "tests" / "auth_emulator.js"), str(tools), PROJECT],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    # Loading firebase-tools takes 10-25 s; wait for the port line, but not forever.
    ready, _, _ = select.select([process.stdout], [], [], 120)
    line = process.stdout.readline() if ready else "(no answer within 120 s)"
    if not line.startswith("READY "):
        process.kill()
        pytest.fail(f"the Auth emulator did not start: {line!r}")
    yield f"127.0.0.1:{line.split()[1]}"
    process.terminate()
    process.wait(timeout=10)
