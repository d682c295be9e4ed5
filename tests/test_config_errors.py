"""Bad FIREWATCH_* values: the variable is named, its value (maybe a secret) never echoed."""

from __future__ import annotations

import pytest

from monitoring.config import load_settings
from monitoring.errors import ConfigError


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
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        load_settings(_env_file=None)
    assert str(refused.value) == f"invalid configuration: {expected}"
    assert "hunter2" not in str(refused.value)
