"""``FIREWATCH_HEALTH__*``: which probes run, their timeouts, and the URLs to check.

Lists are given as JSON, for example::

    FIREWATCH_HEALTH__ENDPOINTS='[{"name": "api", "url": "https://app.example.com/api/ping"},
                                  {"name": "frontend", "url": "https://app.example.com/",
                                   "body_contains": "<title>", "critical": false}]'
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

from monitoring.validation import SettingsModel, http_url

__all__ = ["BUILTIN_CHECKS", "EndpointCheckSettings", "HealthSettings"]

BUILTIN_CHECKS = ("firestore", "storage", "auth", "functions", "llm")
_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
# health_check runs for at most 30 s (timeout_sec in main.py): a probe allowed longer would be
# cut off by the platform, and the answer would be a 504 instead of a report.
MAX_PROBE_S = 30

ProbeUrl = Annotated[str, Field(pattern=r"^https?://"), AfterValidator(http_url)]


class EndpointCheckSettings(SettingsModel):
    """One of the app's URLs: answered with ``expected_status`` (and ``body_contains``)."""

    name: str = Field(pattern=_NAME_PATTERN)
    url: ProbeUrl
    method: Literal["GET", "HEAD"] = "GET"
    expected_status: int = Field(200, ge=100, le=599)
    body_contains: str | None = None
    degraded_after_ms: float = Field(1000.0, gt=0, le=MAX_PROBE_S * 1000)
    timeout_s: float | None = Field(None, gt=0, le=MAX_PROBE_S)
    critical: bool = True


class HealthSettings(SettingsModel):
    """``FIREWATCH_HEALTH__*``: probe timeouts and the URLs to check."""

    timeout_s: float = Field(
        3.0, gt=0, le=MAX_PROBE_S, description="Default timeout of every probe (at most 30 s)."
    )
    margin_s: float = Field(
        0.25,
        ge=0,
        le=MAX_PROBE_S,
        description="Extra time a run may take over its slowest probe's timeout.",
    )
    degraded_after_ms: float = Field(
        1000.0,
        gt=0,
        le=MAX_PROBE_S * 1000,
        description="A built-in probe slower than this is degraded.",
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
        le=300,
        description="Public answers reuse a report this young, so uptime robots polling "
        "every few seconds do not each cost a probe write and an LLM call (at most 5 min: "
        "an older report would hide an outage).",
    )
    persist_timeout_s: float = Field(
        1.0,
        gt=0,
        le=MAX_PROBE_S,
        description="Longest wait for storing the report and its KPIs.",
    )

    # Heartbeats: a scheduled function is overdue once its last expected slot is older than
    # its grace, which is max(grace_min_s, grace_ratio * interval) plus its own timeout. A grace
    # over a day, or over a whole interval, would report a dead function only after days.
    heartbeat_grace_min_s: float = Field(120.0, ge=0, le=86400)
    heartbeat_grace_ratio: float = Field(0.1, ge=0, le=1)
    heartbeat_ignore: list[str] = Field(default_factory=list)

    # The LLM provider (OpenRouter's "current key" endpoint answers only for a valid key).
    llm_url: ProbeUrl = "https://openrouter.ai/api/v1/key"
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

    @field_validator("disabled")
    @classmethod
    def _built_in(cls, names: list[str]) -> list[str]:
        # A typo would leave the check running, and the operator believing it off.
        unknown = [name for name in names if name not in BUILTIN_CHECKS]
        if unknown:
            raise ValueError(
                f"{', '.join(map(repr, unknown))}: not a built-in check "
                f"({', '.join(BUILTIN_CHECKS)})"
            )
        return names

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
