"""Settings: wrong values are reported by variable name, secrets never echoed."""

from __future__ import annotations

import io
import json
import logging

import pytest

from monitoring.config import load_settings
from monitoring.errors import ConfigError
from monitoring.logs import JsonFormatter, Redactor


def test_defaults_load_without_any_environment() -> None:
    settings = load_settings(_env_file=None)
    assert settings.project_id == "demo-firewatch"
    assert settings.environment == "local"
    assert settings.alerts_file.name == "alerts.yaml"


def test_bad_values_are_reported_by_variable_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREWATCH_DAILY_BUDGET_USD", "-3")
    monkeypatch.setenv("FIREWATCH_NOTIFY__SMTP_PORT", "not-a-port")
    with pytest.raises(ConfigError) as raised:
        load_settings(_env_file=None)
    message = str(raised.value)
    assert "FIREWATCH_DAILY_BUDGET_USD" in message
    assert "FIREWATCH_NOTIFY__SMTP_PORT" in message
    assert "not-a-port" not in message


def test_gcloud_project_is_used_when_deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GCLOUD_PROJECT", "rag-prompt-library")
    monkeypatch.setenv("K_SERVICE", "health-check")
    settings = load_settings(_env_file=None)
    assert settings.project_id == "rag-prompt-library"
    assert settings.environment == "production"


def test_env_file_values_are_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("FIREWATCH_DAILY_BUDGET_USD=75\nFIREWATCH_HEALTH__TIMEOUT_S=1.5\n")
    settings = load_settings(_env_file=str(env))
    assert settings.daily_budget_usd == 75
    assert settings.health.timeout_s == 1.5


def test_secret_values_are_collected_for_redaction() -> None:
    settings = load_settings(
        _env_file=None, api_key="k3y-value-123", notify={"smtp_password": "pw-secret-9"}
    )
    assert sorted(settings.secret_values()) == ["k3y-value-123", "pw-secret-9"]
    assert "k3y-value-123" not in repr(settings)


def test_json_log_lines_have_cloud_logging_shape_and_no_secret() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    redactor = Redactor()
    redactor.add(["hunter2-secret"])
    handler.addFilter(redactor)
    log = logging.getLogger("test.shape")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("posting to %s failed", "https://hooks/hunter2-secret", extra={"attempt": 2})
    finally:
        log.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "posting to https://hooks/*** failed"
    assert entry["attempt"] == 2
