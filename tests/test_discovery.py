"""main.py as firebase deploy sees it: loaded through the functions SDK's own discovery."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO

EXPECTED = {
    # name: (trigger, schedule or None)
    "health_check": ("http", None),
    "record_metrics": ("http", None),
    "dashboard": ("http", None),
    "status_page": ("http", None),
    "evaluate_alerts": ("schedule", "* * * * *"),
    "deliver_notifications": ("schedule", "* * * * *"),
    "probe_health": ("schedule", "* * * * *"),
    "scheduled_backup": ("schedule", "0 2 * * *"),
    "compact_kpis": ("schedule", "15 * * * *"),
    "daily_maintenance": ("schedule", "0 6 * * *"),
    "weekly_maintenance": ("schedule", "0 7 * * 1"),
    "monthly_maintenance": ("schedule", "0 8 1 * *"),
}


@pytest.fixture(scope="module")
def manifest() -> dict:
    # The same path the Firebase CLI takes: serving.py imports main.py from the source
    # folder and dumps the endpoints it found as YAML. A fresh interpreter keeps the SDK's
    # global parameter registry from clashing with other tests.
    script = (
        "from firebase_functions.private import serving;"
        "print(serving.functions_as_yaml(serving.get_functions()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO / "functions",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return yaml.safe_load(out.stdout)


def test_discovery_finds_exactly_the_declared_functions(manifest: dict) -> None:
    assert set(manifest["endpoints"]) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_function_has_its_trigger_schedule_and_utc(manifest: dict, name: str) -> None:
    endpoint = manifest["endpoints"][name]
    trigger, schedule = EXPECTED[name]
    if trigger == "http":
        assert endpoint["httpsTrigger"] == {}
        assert "scheduleTrigger" not in endpoint
    else:
        assert endpoint["scheduleTrigger"]["schedule"] == schedule
        assert endpoint["scheduleTrigger"]["timeZone"] == "Etc/UTC"
    # Without cpu=1 the SDK silently applies fractional gen1 CPU (see the reference notes).
    assert endpoint["cpu"] == 1
    assert endpoint["region"] == ["us-central1"]


def test_admin_http_functions_receive_the_api_key_secret(manifest: dict) -> None:
    for name in ("health_check", "record_metrics", "dashboard"):
        keys = [s["key"] for s in manifest["endpoints"][name]["secretEnvironmentVariables"]]
        assert "FIREWATCH_API_KEY" in keys
    assert {"name": "FIREWATCH_API_KEY", "type": "secret"} in manifest["params"]


def test_health_functions_receive_the_llm_key_secret(manifest: dict) -> None:
    for name in ("health_check", "probe_health"):
        keys = [s["key"] for s in manifest["endpoints"][name]["secretEnvironmentVariables"]]
        assert "FIREWATCH_HEALTH__LLM_API_KEY" in keys
    assert {"name": "FIREWATCH_HEALTH__LLM_API_KEY", "type": "secret"} in manifest["params"]


def test_notification_functions_receive_the_notifier_secrets(manifest: dict) -> None:
    for name in ("evaluate_alerts", "deliver_notifications"):
        keys = [s["key"] for s in manifest["endpoints"][name]["secretEnvironmentVariables"]]
        assert "FIREWATCH_NOTIFY__SLACK_WEBHOOK_URL" in keys
        assert "FIREWATCH_NOTIFY__SMTP_PASSWORD" in keys
    assert {"name": "FIREWATCH_NOTIFY__TWILIO_AUTH_TOKEN", "type": "secret"} in manifest["params"]


def test_importing_main_creates_no_google_client() -> None:
    script = (
        "import sys, main;"
        "heavy = [m for m in ('google.cloud.firestore_v1.client', 'google.cloud.storage.client',"
        " 'google.cloud.firestore_admin_v1', 'google.cloud.monitoring_v3') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO / "functions",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == ""
