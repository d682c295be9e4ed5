"""``FIREWATCH_HEALTH__*``: which probes run, their timeouts, and the URLs to check.

Lists are given as JSON, for example::

    FIREWATCH_HEALTH__ENDPOINTS='[{"name": "api", "url": "https://app.example.com/api/ping"},
                                  {"name": "frontend", "url": "https://app.example.com/",
                                   "body_contains": "<title>", "critical": false}]'
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

__all__ = ["BUILTIN_CHECKS", "EndpointCheckSettings", "HealthSettings"]

BUILTIN_CHECKS = ("firestore", "storage", "auth", "functions", "llm")
_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


class EndpointCheckSettings(BaseModel):
    """One of the app's URLs: answered with ``expected_status`` (and ``body_contains``)."""

    name: str = Field(pattern=_NAME_PATTERN)
    url: str = Field(pattern=r"^https?://")
    method: Literal["GET", "HEAD"] = "GET"
    expected_status: int = Field(200, ge=100, le=599)
    body_contains: str | None = None
    degraded_after_ms: float = Field(1000.0, gt=0)
    timeout_s: float | None = Field(None, gt=0)
    critical: bool = True


class HealthSettings(BaseModel):
    """``FIREWATCH_HEALTH__*``: probe timeouts and the URLs to check."""

    timeout_s: float = Field(3.0, gt=0, description="Default timeout of every probe.")
    margin_s: float = Field(
        0.25, ge=0, description="Extra time a run may take over its slowest probe's timeout."
    )
    degraded_after_ms: float = Field(
        1000.0, gt=0, description="A built-in probe slower than this is degraded."
    )
    disabled: list[str] = Field(
        default_factory=list, description="Built-in checks not to run, e.g. ['llm']."
    )
    non_critical: list[str] = Field(
        default_factory=lambda: ["llm"],
        description="Checks that can only degrade the overall status, never fail it.",
    )
    cache_s: float = Field(
        5.0,
        ge=0,
        description="Public answers reuse a report this young, so uptime robots polling "
        "every few seconds do not each cost a probe write and an LLM call.",
    )
    persist_timeout_s: float = Field(
        1.0, gt=0, description="Longest wait for storing the report and its KPIs."
    )

    # Heartbeats: a scheduled function is overdue once its last expected slot is older than
    # its grace, which is max(grace_min_s, grace_ratio * interval) plus its own timeout.
    heartbeat_grace_min_s: float = Field(120.0, ge=0)
    heartbeat_grace_ratio: float = Field(0.1, ge=0)
    heartbeat_ignore: list[str] = Field(default_factory=list)

    # The LLM provider (OpenRouter's "current key" endpoint answers only for a valid key).
    llm_url: str = Field("https://openrouter.ai/api/v1/key", pattern=r"^https?://")
    llm_api_key: SecretStr | None = None

    endpoints: list[EndpointCheckSettings] = Field(default_factory=list)

    @field_validator("llm_api_key")
    @classmethod
    def _unset_means_none(cls, key: SecretStr | None) -> SecretStr | None:
        # Deployed, every declared secret must have a value; "unset" marks one not used,
        # as for the notifier secrets.
        if key is None or key.get_secret_value().strip().lower() in ("", "unset"):
            return None
        return key

    @field_validator("disabled", "non_critical")
    @classmethod
    def _lowercase(cls, names: list[str]) -> list[str]:
        return [name.strip().lower() for name in names if name.strip()]

    @model_validator(mode="after")
    def _unique_names(self) -> HealthSettings:
        seen = set(BUILTIN_CHECKS)
        for endpoint in self.endpoints:
            if endpoint.name in seen:
                raise ValueError(
                    f"endpoint check name {endpoint.name!r} is used twice or is a built-in "
                    f"check ({', '.join(BUILTIN_CHECKS)}); choose another"
                )
            seen.add(endpoint.name)
        return self
