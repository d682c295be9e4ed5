"""Settings, read from the environment and ``.env`` files and validated at start.

Every variable is ``FIREWATCH_<NAME>``; a section's field is ``FIREWATCH_<SECTION>__<NAME>``
(for example ``FIREWATCH_HEALTH__TIMEOUT_S``). A few platform variables are read under their
own names: ``GCLOUD_PROJECT``, ``FIRESTORE_EMULATOR_HOST`` and ``STORAGE_EMULATOR_HOST``.
Secrets are ``SecretStr``: in production they arrive as environment variables injected by the
functions SDK's ``SecretParam`` declared in ``main.py``, under the same names.

``load_settings()`` turns a validation failure into one ``ConfigError`` that names every bad
variable, so a wrong value is reported when a function starts, not at 2 AM.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import AliasChoices, BaseModel, Field, FilePath, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitoring.alerts.settings import AlertSettings
from monitoring.backups.settings import BackupSettings
from monitoring.errors import ConfigError
from monitoring.health.settings import HealthSettings
from monitoring.incidents.settings import IncidentSettings
from monitoring.kpi.settings import KpiSettings
from monitoring.maintenance.settings import MaintenanceSettings
from monitoring.notifiers.settings import NotifySettings

if TYPE_CHECKING:
    from monitoring.alerts.rules import Problem

__all__ = [
    "FUNCTIONS_DIR",
    "Settings",
    "cached_settings",
    "check_receivers",
    "iter_secrets",
    "load_settings",
    "receiver_list_problem",
    "receiver_problems",
]

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent
ENV_PREFIX = "FIREWATCH_"


def _default_alerts_file() -> Path:
    # In a checkout operators edit alerts.yaml at the repository root. Deployed, only
    # functions/ is uploaded, and firebase.json's predeploy hook copies the file there.
    in_checkout = FUNCTIONS_DIR.parent / "alerts.yaml"
    return in_checkout if in_checkout.exists() else FUNCTIONS_DIR / "alerts.yaml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=(".env", str(FUNCTIONS_DIR / ".env")),
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
        # As in every section's SettingsModel: "inf" and "nan" are not numbers we can use.
        allow_inf_nan=False,
    )

    project_id: str = Field(
        "demo-firewatch",
        validation_alias=AliasChoices(
            "FIREWATCH_PROJECT_ID", "GCLOUD_PROJECT", "GOOGLE_CLOUD_PROJECT"
        ),
        pattern=r"^[a-z][a-z0-9-]{4,61}[a-z0-9]$",
    )
    environment: Literal["local", "production"] = Field(
        default_factory=lambda: "production" if os.environ.get("K_SERVICE") else "local"
    )
    region: str = "us-central1"
    firestore_emulator_host: str | None = Field(
        None, validation_alias=AliasChoices("FIRESTORE_EMULATOR_HOST")
    )
    storage_emulator_host: str | None = Field(
        None, validation_alias=AliasChoices("STORAGE_EMULATOR_HOST")
    )
    log_format: Literal["auto", "json", "text"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    api_key: SecretStr | None = Field(
        None, description="Key for admin HTTP endpoints, sent as the X-API-Key header."
    )
    # Must exist at start: every function reads its rules or receivers from it.
    alerts_file: FilePath = Field(default_factory=_default_alerts_file)
    daily_budget_usd: float = Field(50.0, gt=0)

    kpi: KpiSettings = Field(default_factory=KpiSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)

    @property
    def is_emulated(self) -> bool:
        return self.firestore_emulator_host is not None

    def secret_values(self) -> list[str]:
        """Return every secret's plain value, for the log redaction filter."""
        return [plain for secret in iter_secrets(self) if (plain := secret.get_secret_value())]


def iter_secrets(value: object) -> Iterator[SecretStr]:
    """Yield every ``SecretStr`` inside a model, list or dict, however deep."""
    if isinstance(value, SecretStr):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from iter_secrets(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_secrets(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from iter_secrets(item)


def _variable(loc: tuple[int | str, ...]) -> str:
    """Return the variable that holds the value at ``loc``, then the place inside that value.

    A list or object is one variable holding JSON, so an endpoint's bad URL is
    ``FIREWATCH_HEALTH__ENDPOINTS[0].url``, not a variable that does not exist.
    """
    head = str(loc[0]).upper() if loc else ""
    if head.startswith(ENV_PREFIX) or head == "GCLOUD_PROJECT":  # read under an alias
        return head + _inside(loc[1:])
    model: type[BaseModel] | None = Settings
    names: list[str] = []
    for part in loc:
        fields = model.model_fields if model is not None else {}
        if not isinstance(part, str) or part not in fields:
            break
        names.append(part.upper())
        annotation = fields[part].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            model = None
    return ENV_PREFIX + "__".join(names) + _inside(loc[len(names) :])


def _inside(loc: tuple[int | str, ...]) -> str:
    # "[key]" is pydantic's marker for a problem with a dict key rather than its value.
    parts = [f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc]
    return "".join(part for part in parts if part != ".[key]")


def _describe(error: ValidationError) -> str:
    # Never echo the input: it may be a secret.
    lines = [f"{_variable(problem['loc'])}: {problem['msg']}" for problem in error.errors()]
    return "invalid configuration: " + "; ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Return validated settings from the environment, ``.env`` files and ``overrides``.

    Raises ``ConfigError`` naming each bad variable; the values themselves are not repeated.
    """
    from pydantic_settings import SettingsError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
    except SettingsError as error:
        # pydantic-settings could not decode a list or object value; it names the field, not
        # the variable (and must not echo the value, which may be a secret).
        raise ConfigError(_describe_undecodable(str(error))) from None


def _describe_undecodable(message: str) -> str:
    field = message.split('field "', 1)[-1].split('"', 1)[0] if 'field "' in message else ""
    prefix = f"{ENV_PREFIX}{field.upper()}"
    names = sorted(n for n in os.environ if n == prefix or n.startswith(prefix + "__"))
    where = ", ".join(names) if field and names else f"{prefix}* (or a .env file)"
    return f'invalid configuration: {where}: a list or object value must be JSON, e.g. ["a"]'


@lru_cache(maxsize=1)
def cached_settings() -> Settings:
    """Return the settings of this process (entry points read them once per instance)."""
    return load_settings()


# Receiver names in settings ---------------------------------------------------------------
# Settings name receivers of alerts.yaml, which loads separately (and changes without a
# deploy): the two are compared here, so a typo is reported by `firewatch alerts validate`
# and where the names are used, not discovered when an escalation reaches nobody.


def receiver_list_problem(
    variable: str, names: Sequence[str], known: Collection[str], *, may_be_empty: bool = True
) -> str | None:
    """Return why receiver list ``variable`` cannot be sent to, or None when it can."""
    if not names and not may_be_empty:
        return f"{variable} is an empty list; name at least one receiver of alerts.yaml"
    unknown = [name for name in names if name not in known]
    if not unknown:
        return None
    return (
        f"{variable}: alerts.yaml defines no receiver {', '.join(map(repr, unknown))}"
        f" (it has {', '.join(sorted(known)) or 'none'})"
    )


def receiver_problems(settings: Settings, known: Collection[str]) -> list[str]:
    """Return one sentence per receiver setting that names a receiver ``known`` lacks.

    An escalation step without a receiver is a problem too: it would escalate to nobody.
    """
    incidents, maintenance = settings.incidents, settings.maintenance
    lists: list[tuple[str, list[str] | None, bool]] = [
        ("FIREWATCH_INCIDENTS__RECEIVERS", incidents.receivers, True),
        ("FIREWATCH_MAINTENANCE__REPORT_RECEIVERS", maintenance.report_receivers, True),
        ("FIREWATCH_MAINTENANCE__SUMMARY_RECEIVERS", maintenance.summary_receivers, True),
    ]
    lists += [
        (f"FIREWATCH_INCIDENTS__ESCALATION_RECEIVERS[{i}]", names, False)
        for i, names in enumerate(incidents.escalation_receivers)
    ]
    problems = []
    for variable, names, may_be_empty in lists:
        if names is None:  # routed by alerts.yaml's routes
            continue
        problem = receiver_list_problem(variable, names, known, may_be_empty=may_be_empty)
        if problem is not None:
            problems.append(problem)
    return problems


def check_receivers(settings: Settings, path: Path) -> list[Problem]:
    """Return the receiver settings that the alerts file at ``path`` does not define, as
    problems of that file (for ``firewatch alerts validate``)."""
    from monitoring.alerts.rules import Problem
    from monitoring.notifiers.routing import load_routing

    known = load_routing(path).receivers
    return [Problem(str(path), 1, 1, problem) for problem in receiver_problems(settings, known)]
