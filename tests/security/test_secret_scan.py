"""The secret scan finds a secret wherever it lands: log text, extras, tracebacks, documents.

Each test uses its own SecretScan and a secret no other test knows, so the session-wide scan
is neither triggered nor blinded by these checks.
"""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest

from monitoring.config import load_settings
from monitoring.localstack.emulators import FirestoreEmulator
from tests.security.secret_scan import PLUGIN_NAME, SecretScan


@pytest.fixture
def secret() -> str:
    return f"scan-probe-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def log(secret: str):  # type: ignore[no-untyped-def]
    scan = SecretScan([secret])
    logger = logging.getLogger(f"test.secret_scan.{uuid.uuid4().hex}")
    logger.propagate = False  # keep the probe away from the session-wide handler
    logger.addHandler(scan.handler)
    logger.setLevel(logging.DEBUG)
    yield scan, logger
    logger.removeHandler(scan.handler)


def test_secret_in_a_log_argument_is_found(log, secret: str) -> None:  # type: ignore[no-untyped-def]
    scan, logger = log
    logger.debug("posting to %s", f"https://hooks.example/{secret}")
    assert len(scan.findings) == 1
    assert secret not in scan.findings[0]  # the report shows only a prefix


def test_secret_in_an_extra_field_or_traceback_is_found(log, secret: str) -> None:  # type: ignore[no-untyped-def]
    scan, logger = log
    logger.info("delivery failed", extra={"target": secret})
    try:
        raise ValueError(f"rejected {secret}")
    except ValueError:
        logger.exception("send crashed")
    assert len(scan.findings) == 2


def test_clean_log_lines_are_no_finding(log, secret: str) -> None:  # type: ignore[no-untyped-def]
    scan, logger = log
    logger.warning("posting to %s failed: %s", "https://hooks.example/***", 503)
    assert scan.findings == []


def test_secret_in_a_stored_document_is_found(
    firestore_emulator: FirestoreEmulator, secret: str
) -> None:
    scan = SecretScan([secret])
    project = firestore_emulator.project_id
    base = f"{firestore_emulator.url}/v1/projects/{project}/databases/(default)/documents"
    owner = {"Authorization": "Bearer owner"}
    path = f"fw_outbox/probe-{secret[-6:]}/attempts/a1"
    body = {"fields": {"receiver": {"mapValue": {"fields": {"url": {"stringValue": secret}}}}}}
    httpx.patch(f"{base}/{path}", json=body, headers=owner).raise_for_status()
    try:
        scan.scan_documents(firestore_emulator)
    finally:
        httpx.delete(f"{base}/{path}", headers=owner).raise_for_status()
    assert [f for f in scan.findings if "fw_outbox/probe" in f]
    assert scan.documents_scanned >= 1


def test_secrets_of_any_settings_join_the_list() -> None:
    session_scan = pytest.importorskip("tests.security.secret_scan")
    assert session_scan.PLUGIN_NAME == PLUGIN_NAME
    scan = SecretScan([])
    scan.add(load_settings(_env_file=None, api_key="probe-key-8c1d").secret_values())
    assert scan.secrets == {"probe-key-8c1d"}


def test_the_session_scan_is_installed(request: pytest.FixtureRequest) -> None:
    plugin = request.config.pluginmanager.get_plugin(PLUGIN_NAME)
    assert isinstance(plugin, SecretScan)
    assert plugin.handler in logging.getLogger().handlers
    load_settings(_env_file=None, api_key="probe-session-key-2b7f")
    assert "probe-session-key-2b7f" in plugin.secrets


def test_secret_in_a_client_write_is_found(settings, secret: str) -> None:  # type: ignore[no-untyped-def]
    from monitoring.store import firestore_client

    scan = SecretScan([secret])
    scan.watch_writes()  # wraps the already wrapped client: both scans see the write
    firestore_client(settings).collection("fw_audit").document("probe").set({"note": secret})
    firestore_client(settings).collection("fw_audit").document("probe").delete()
    assert any("Firestore commit" in finding for finding in scan.findings)
