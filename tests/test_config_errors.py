"""Bad FIREWATCH_* values: the variable is named, its value (maybe a secret) never echoed."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import BaseModel

from monitoring.config import Settings, load_settings
from monitoring.errors import ConfigError


def _refusal(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    """Set ``name`` to ``value`` and return the ConfigError that loading settings raises."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        load_settings(_env_file=None)
    return str(refused.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FIREWATCH_HEALTH__ENDPOINTS", "not json hunter2"),
        ("FIREWATCH_KPI__INGEST_CORS_ORIGINS", "https://hunter2.example"),
    ],
)
def test_a_list_value_that_is_not_json_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value) == (
        f'invalid configuration: {name}: a list or object value must be JSON, e.g. ["a"]'
    )
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("FIREWATCH_DAILY_BUDGET_USD", "-5", "Input should be greater than 0"),
        ("FIREWATCH_LOG_FORMAT", "xml", "Input should be 'auto', 'json' or 'text'"),
        ("FIREWATCH_HEALTH__LLM_URL", "gopher://hunter2", "String should match pattern"),
    ],
)
def test_a_bad_scalar_names_its_variable_without_its_value(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert str(refused.value).startswith(f"invalid configuration: {name}: {expected}")
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "FIREWATCH_HEALTH__ENDPOINTS",
            '[{"name": "api", "url": "gopher://hunter2"}]',
            "FIREWATCH_HEALTH__ENDPOINTS[0].url: String should match pattern '^https?://'",
        ),
        (
            "FIREWATCH_BACKUP__USER_COLLECTIONS",
            '[{"path": "users", "id_is_uid": true}, {"path": "a/b"}]',
            "FIREWATCH_BACKUP__USER_COLLECTIONS[1].path: Value error, 'a/b' is not a "
            "collection path (odd number of segments)",
        ),
    ],
    ids=["endpoint-url", "user-collection-path"],
)
def test_a_bad_item_of_a_json_value_names_its_variable_and_place(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    message = _refusal(monkeypatch, name, value)
    assert message == f"invalid configuration: {expected}"
    assert "hunter2" not in message


def _float_variables() -> list[str]:
    """Return the variable of every float setting, top-level and in each section."""
    names = []
    for name, field in Settings.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            names += [
                f"FIREWATCH_{name.upper()}__{inner.upper()}"
                for inner, info in section.model_fields.items()
                if float in (info.annotation, *get_args(info.annotation))
            ]
        elif field.annotation is float:
            names.append(f"FIREWATCH_{name.upper()}")
    return names


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
@pytest.mark.parametrize("name", _float_variables())
def test_no_float_setting_accepts_inf_or_nan(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    assert (
        _refusal(monkeypatch, name, value)
        == f"invalid configuration: {name}: Input should be a finite number"
    )


def test_the_float_settings_checked_include_every_timeout() -> None:
    names = _float_variables()
    assert "FIREWATCH_DAILY_BUDGET_USD" in names
    assert {"FIREWATCH_HEALTH__TIMEOUT_S", "FIREWATCH_NOTIFY__TIMEOUT_S"} <= set(names)
    assert "FIREWATCH_BACKUP__MANAGED_TIMEOUT_S" in names


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("FIREWATCH_HEALTH__TIMEOUT_S", "1e10", "Input should be less than or equal to 30"),
        ("FIREWATCH_HEALTH__TIMEOUT_S", "1e308", "Input should be less than or equal to 30"),
        ("FIREWATCH_HEALTH__CACHE_S", "3600", "Input should be less than or equal to 300"),
        ("FIREWATCH_NOTIFY__TIMEOUT_S", "61", "Input should be less than or equal to 60"),
        ("FIREWATCH_NOTIFY__RETRY_DELAY_S", "1e300", "Input should be less than or equal to 3600"),
        ("FIREWATCH_KPI__FLUSH_INTERVAL_S", "1e9", "Input should be less than or equal to 3600"),
        ("FIREWATCH_BACKUP__MAX_AGE_HOURS", "1e20", "Input should be less than or equal to 744"),
        (
            "FIREWATCH_ALERTS__REPEAT_INTERVAL_MINUTES",
            "10000000000",
            "Input should be less than or equal to 43200",
        ),
    ],
)
def test_an_absurd_timeout_or_delay_names_its_variable_and_bound(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    assert _refusal(monkeypatch, name, value) == f"invalid configuration: {name}: {expected}"


def test_an_endpoint_timeout_of_infinity_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = '[{"name": "api", "url": "https://app.example.com/", "timeout_s": Infinity}]'
    assert _refusal(monkeypatch, "FIREWATCH_HEALTH__ENDPOINTS", endpoint) == (
        "invalid configuration: FIREWATCH_HEALTH__ENDPOINTS[0].timeout_s: "
        "Input should be a finite number"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"P0": -5}', ".P0: Input should be greater than 0"),
        ('{"P0": 0}', ".P0: Input should be greater than 0"),
        ('{"P9": 15}', ".P9: Input should be 'P0', 'P1', 'P2' or 'P3'"),
        ('{"P3": 100000}', ".P3: Input should be less than or equal to 43200"),
    ],
    ids=["negative", "zero", "unknown-priority", "over-30-days"],
)
def test_response_targets_are_positive_minutes_for_p0_to_p3(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    assert _refusal(monkeypatch, "FIREWATCH_INCIDENTS__RESPONSE_TARGET_MINUTES", value) == (
        f"invalid configuration: FIREWATCH_INCIDENTS__RESPONSE_TARGET_MINUTES{expected}"
    )


def test_valid_response_targets_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREWATCH_INCIDENTS__RESPONSE_TARGET_MINUTES", '{"P0": 5, "P1": 30}')
    settings = load_settings(_env_file=None)
    assert settings.incidents.response_target_minutes == {"P0": 5, "P1": 30}


BUCKET_RULE = (
    "Value error, not a Cloud Storage bucket name (3-63 lowercase letters, digits, '-', '_' "
    "and '.', starting and ending with a letter or digit)"
)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "FIREWATCH_HEALTH__DISABLED",
            '["llm", "firestor"]',
            "Value error, 'firestor': not a built-in check "
            "(firestore, storage, auth, functions, llm)",
        ),
        ("FIREWATCH_ALERTS_FILE", "/nonexistent.yaml", "Path does not point to a file"),
        ("FIREWATCH_NOTIFY__TEMPLATES_DIR", "/nonexistent", "Path does not point to a directory"),
        ("FIREWATCH_NOTIFY__SMTP_CA_FILE", "/nonexistent.pem", "Path does not point to a file"),
        ("FIREWATCH_BACKUP__BUCKET", "", BUCKET_RULE),
        ("FIREWATCH_BACKUP__BUCKET", "Bad Bucket/../x", BUCKET_RULE),
        ("FIREWATCH_BACKUP__BUCKET", "a..b", BUCKET_RULE),
        (
            "FIREWATCH_BACKUP__BUCKET",
            "goog-backups",
            "Value error, a bucket name may not start with 'goog' or contain 'google'",
        ),
        (
            "FIREWATCH_BACKUP__BUCKET",
            "10.0.0.1",
            "Value error, a bucket name may not be an IP address",
        ),
        (
            "FIREWATCH_HEALTH__LLM_URL",
            "http://",
            "Value error, the URL has no host, e.g. https://app.example.com/",
        ),
    ],
    ids=[
        "disabled-typo",
        "alerts-file",
        "templates-dir",
        "smtp-ca-file",
        "bucket-empty",
        "bucket-path",
        "bucket-double-dot",
        "bucket-goog",
        "bucket-ip",
        "llm-url-no-host",
    ],
)
def test_a_name_that_must_exist_or_be_well_formed_is_checked_at_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    assert _refusal(monkeypatch, name, value) == f"invalid configuration: {name}: {expected}"


def test_an_endpoint_url_without_a_host_names_the_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoints = (
        '[{"name": "api", "url": "https://app.example.com/"}, {"name": "web", "url": "http://"}]'
    )
    assert _refusal(monkeypatch, "FIREWATCH_HEALTH__ENDPOINTS", endpoints) == (
        "invalid configuration: FIREWATCH_HEALTH__ENDPOINTS[1].url: "
        "Value error, the URL has no host, e.g. https://app.example.com/"
    )


def test_names_that_exist_are_accepted(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text("groups: []\n")
    monkeypatch.setenv("FIREWATCH_ALERTS_FILE", str(rules))
    monkeypatch.setenv("FIREWATCH_NOTIFY__TEMPLATES_DIR", str(tmp_path))
    monkeypatch.setenv("FIREWATCH_HEALTH__DISABLED", '["LLM", " storage "]')
    monkeypatch.setenv("FIREWATCH_BACKUP__BUCKET", "acme-prod.backups_2")

    settings = load_settings(_env_file=None)

    assert settings.alerts_file == rules
    assert settings.notify.templates_dir == tmp_path
    assert settings.health.disabled == ["llm", "storage"]
    assert settings.backup.bucket == "acme-prod.backups_2"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "FIREWATCH_NOTIFY__MAIL_FROM",
            "not an address",
            "not an e-mail address: An email address must have an @-sign.",
        ),
        (
            "FIREWATCH_NOTIFY__MAIL_FROM",
            "Firewatch <alerts@@example.com>",
            "not an e-mail address: The part after the @-sign contains invalid characters: '@'.",
        ),
        (
            "FIREWATCH_NOTIFY__MAIL_FROM",
            "alerts@example.com, ops@example.com",
            "several addresses in one entry: give each its own entry",
        ),
        (
            "FIREWATCH_NOTIFY__TWILIO_FROM",
            "hello",
            "not an E.164 number: +, country code, digits only (+15555550100)",
        ),
        (
            "FIREWATCH_NOTIFY__TWILIO_FROM",
            "+1 555 000 1111",
            "not an E.164 number: +, country code, digits only (+15555550100)",
        ),
    ],
    ids=["mail-from-words", "mail-from-double-at", "mail-from-two", "twilio-word", "twilio-spaces"],
)
def test_a_sender_must_be_an_address_or_an_e164_number(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    assert (
        _refusal(monkeypatch, name, value)
        == f"invalid configuration: {name}: Value error, {expected}"
    )


@pytest.mark.parametrize(
    "value",
    ["alerts@example.com", "Firewatch <alerts@example.com>", "Équipe <firewatch@localhost>"],
)
def test_a_well_formed_sender_is_kept_as_written(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("FIREWATCH_NOTIFY__MAIL_FROM", value)
    monkeypatch.setenv("FIREWATCH_NOTIFY__TWILIO_FROM", "+15550001111")
    settings = load_settings(_env_file=None)
    assert settings.notify.mail_from == value
    assert settings.notify.twilio_from == "+15550001111"
