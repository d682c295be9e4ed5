"""Fixtures for calling the deployed HTTP functions the way the dev host serves them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from monitoring import runtime
from monitoring.clock import ManualClock, SystemClock
from monitoring.config import Settings, cached_settings
from monitoring.localstack.devhost import DevHost, load_functions
from monitoring.localstack.emulators import FirestoreEmulator, StorageEmulator
from tests.conftest import BUCKET, PROJECT, REPO
from tests.security.secrets import TEST_API_KEY, TEST_INGEST_KEY

HTTP_FUNCTIONS = ("health_check", "record_metrics", "dashboard", "status_page")


@pytest.fixture(scope="session")
def _functions() -> dict[str, Any]:
    return load_functions()


@pytest.fixture
def function_env(
    settings: Settings,
    firestore_emulator: FirestoreEmulator,
    storage_emulator: StorageEmulator,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Settings]:
    """Point the functions' own settings (read from the environment) at the emulators.

    The process clock is the test's ManualClock, so tokens and rate windows follow it.
    """
    env = {
        "FIREWATCH_PROJECT_ID": PROJECT,
        "FIREWATCH_API_KEY": TEST_API_KEY,
        "FIREWATCH_KPI__INGEST_KEY": TEST_INGEST_KEY,
        "FIREWATCH_ALERTS_FILE": str(REPO / "alerts.yaml"),
        "FIREWATCH_BACKUP__BUCKET": BUCKET,
        "FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
        "STORAGE_EMULATOR_HOST": storage_emulator.host,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(REPO / "functions")  # no developer .env in the working directory
    cached_settings.cache_clear()
    runtime.set_clock(clock)
    try:
        yield cached_settings()
    finally:
        runtime.set_clock(SystemClock())
        cached_settings.cache_clear()


@pytest.fixture
def client(_functions: dict[str, Any], function_env: Settings) -> FlaskClient:
    return DevHost(_functions, stack=None).app.test_client()
