"""The ``receivers:`` and ``routes:`` sections of ``alerts.yaml``.

A receiver names a channel and its settings; secrets are never written in the file but
referenced by environment variable (``url_env: FIREWATCH_NOTIFY__SLACK_WEBHOOK_URL``). Routes
are tried in order; the first that matches a notification's severity, kind and labels decides
its receivers, unless it says ``continue: true``, in which case later routes add theirs
(Alertmanager's rule).

    receivers:
      oncall-email: {kind: email, to: [oncall@example.com], fallback: oncall-sms}
      oncall-slack: {kind: slack, url_env: FIREWATCH_NOTIFY__SLACK_WEBHOOK_URL,
                     fallback: oncall-email}
    routes:
      - {severity: [critical], receivers: [oncall-email, oncall-slack]}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from monitoring.errors import ConfigError
from monitoring.notifiers.model import Notification

__all__ = [
    "AppriseReceiver",
    "EmailReceiver",
    "PagerDutyReceiver",
    "ReceiverConfig",
    "Route",
    "Routing",
    "SlackReceiver",
    "SmsReceiver",
    "WebhookReceiver",
    "load_routing",
    "parse_routing",
]

ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"


class _Receiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fallback: str | None = None
    rate_limit_per_minute: int | None = Field(None, ge=1)


class EmailReceiver(_Receiver):
    kind: Literal["email"]
    to: list[str] = Field(min_length=1)


class SlackReceiver(_Receiver):
    kind: Literal["slack"]
    url_env: str = Field("FIREWATCH_NOTIFY__SLACK_WEBHOOK_URL", pattern=ENV_NAME)


class SmsReceiver(_Receiver):
    kind: Literal["sms"]
    to: list[str] = Field(min_length=1)
    # Two GSM-7 segments of 153 characters; 320 would be billed as three.
    max_chars: int = Field(306, ge=40, le=1600)
    api_base: str = "https://api.twilio.com"


class WebhookReceiver(_Receiver):
    kind: Literal["webhook"]
    url_env: str = Field("FIREWATCH_NOTIFY__WEBHOOK_URL", pattern=ENV_NAME)
    secret_env: str | None = Field(None, pattern=ENV_NAME)


class PagerDutyReceiver(_Receiver):
    kind: Literal["pagerduty"]
    routing_key_env: str = Field("FIREWATCH_NOTIFY__PAGERDUTY_ROUTING_KEY", pattern=ENV_NAME)
    events_url: str = "https://events.pagerduty.com/v2/enqueue"


class AppriseReceiver(_Receiver):
    kind: Literal["apprise"]
    urls_env: str = Field("FIREWATCH_NOTIFY__APPRISE_URLS", pattern=ENV_NAME)


ReceiverConfig = Annotated[
    EmailReceiver
    | SlackReceiver
    | SmsReceiver
    | WebhookReceiver
    | PagerDutyReceiver
    | AppriseReceiver,
    Field(discriminator="kind"),
]


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    severity: list[Literal["critical", "warning", "info"]] | None = None
    kind: list[str] | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    # Values are full-match regular expressions, like Alertmanager's ``match_re``.
    labels_re: dict[str, str] = Field(default_factory=dict)
    receivers: list[str] = Field(min_length=1)
    continue_: bool = Field(False, alias="continue")

    @model_validator(mode="after")
    def _regexes_compile(self) -> Route:
        for name, pattern in self.labels_re.items():
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"labels_re.{name} is not a regular expression: {error}") from None
        return self

    def matches(self, notification: Notification) -> bool:
        if self.severity is not None and notification.severity not in self.severity:
            return False
        if self.kind is not None and notification.kind not in self.kind:
            return False
        labels = notification.labels
        if any(labels.get(k) != v for k, v in self.labels.items()):
            return False
        return all(re.fullmatch(p, labels.get(k, "")) for k, p in self.labels_re.items())


class Routing(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    receivers: dict[str, ReceiverConfig] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_exist(self) -> Routing:
        problems = []
        for i, route in enumerate(self.routes):
            problems += [
                f"routes.{i}.receivers: unknown receiver {name!r}"
                for name in route.receivers
                if name not in self.receivers
            ]
        for name, receiver in self.receivers.items():
            if receiver.fallback is None:
                continue
            if receiver.fallback not in self.receivers:
                problems.append(
                    f"receivers.{name}.fallback: unknown receiver {receiver.fallback!r}"
                )
            elif receiver.fallback == name:
                problems.append(f"receivers.{name}.fallback: a receiver cannot be its own fallback")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def route(self, notification: Notification) -> list[str]:
        """Return the receivers for ``notification`` in route order, without repeats.

        An empty list means no route matched; the caller decides whether that is an error.
        """
        chosen: list[str] = []
        for route in self.routes:
            if not route.matches(notification):
                continue
            chosen += [name for name in route.receivers if name not in chosen]
            if not route.continue_:
                break
        return chosen


def parse_routing(data: Any, source: str = "alerts.yaml") -> Routing:
    """Return the routing from a parsed YAML document; ``ConfigError`` names each problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    section = {k: data[k] for k in ("receivers", "routes") if data.get(k) is not None}
    try:
        return Routing.model_validate(section)
    except ValidationError as error:
        problems = []
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"]) or "receivers/routes"
            problems.append(f"{where}: {problem['msg']}")
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None


def load_routing(path: Path | str) -> Routing:
    """Return the routing of the ``alerts.yaml`` at ``path``.

    Raises ``ConfigError`` naming the file and every bad field; a missing file is an error.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML") from None
    return parse_routing(data, str(path))
