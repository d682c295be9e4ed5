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

Addresses are checked at load: an email receiver's ``to`` holds one address per entry and an
SMS receiver's E.164 numbers. Two receivers may be each other's fallback (the shipped file's
email and SMS are): delivery never fails over to a receiver the notification already failed
on, so the pair backs each other up without looping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from monitoring.errors import ConfigError
from monitoring.notifiers.model import Notification
from monitoring.validation import EmailAddress, PhoneNumber

__all__ = [
    "AppriseReceiver",
    "EmailReceiver",
    "PagerDutyReceiver",
    "ReceiverConfig",
    "Route",
    "Routing",
    "RoutingProblem",
    "SlackReceiver",
    "SmsReceiver",
    "WebhookReceiver",
    "check_routing",
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
    to: list[EmailAddress] = Field(min_length=1)


class SlackReceiver(_Receiver):
    kind: Literal["slack"]
    url_env: str = Field("FIREWATCH_NOTIFY__SLACK_WEBHOOK_URL", pattern=ENV_NAME)


class SmsReceiver(_Receiver):
    kind: Literal["sms"]
    to: list[PhoneNumber] = Field(min_length=1)
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
    """The receivers and routes of one file. Build it with ``check_routing`` (or the loaders),
    which also check that every name a route or fallback gives is a receiver."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    receivers: dict[str, ReceiverConfig] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)

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


@dataclass(frozen=True)
class RoutingProblem:
    """One problem: ``path`` is where in the document (``("receivers", "mail", "to", 0)``)."""

    path: tuple[str | int, ...]
    message: str

    def __str__(self) -> str:
        return self.message


def check_routing(data: Any) -> tuple[Routing | None, list[RoutingProblem]]:
    """Return the routing of a parsed YAML document and no problems, or ``None`` and all."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, [RoutingProblem((), "expected a mapping at the top level")]
    section = {k: data[k] for k in ("receivers", "routes") if data.get(k) is not None}
    try:
        routing = Routing.model_validate(section)
    except ValidationError as error:
        return None, [_problem(problem["loc"], problem["msg"]) for problem in error.errors()]
    problems = _unknown_names(routing)
    return (None, problems) if problems else (routing, [])


def _problem(loc: tuple[str | int, ...], message: str) -> RoutingProblem:
    where = ".".join(str(part) for part in loc) or "receivers/routes"
    # A receiver's fields sit under its kind's tag in pydantic's location
    # (receivers.mail.email.to.0); the file has no such key.
    path = (*loc[:2], *loc[3:]) if len(loc) > 2 and loc[0] == "receivers" else loc
    return RoutingProblem(path, f"{where}: {message}")


def _unknown_names(routing: Routing) -> list[RoutingProblem]:
    problems = [
        RoutingProblem(
            ("routes", i, "receivers", j), f"routes.{i}.receivers: unknown receiver {name!r}"
        )
        for i, route in enumerate(routing.routes)
        for j, name in enumerate(route.receivers)
        if name not in routing.receivers
    ]
    for name, receiver in routing.receivers.items():
        where = ("receivers", name, "fallback")
        if receiver.fallback is None:
            continue
        if receiver.fallback not in routing.receivers:
            message = f"unknown receiver {receiver.fallback!r}"
            problems.append(RoutingProblem(where, f"receivers.{name}.fallback: {message}"))
        elif receiver.fallback == name:
            message = "a receiver cannot be its own fallback"
            problems.append(RoutingProblem(where, f"receivers.{name}.fallback: {message}"))
    return problems


def parse_routing(data: Any, source: str = "alerts.yaml", root: yaml.Node | None = None) -> Routing:
    """Return the routing from a parsed YAML document; ``ConfigError`` names each problem.

    ``root``, the document's composed node tree, gives each problem its line and column.
    """
    routing, problems = check_routing(data)
    if routing is None:
        raise ConfigError("; ".join(f"{source}{_position(root, p.path)}: {p}" for p in problems))
    return routing


def _position(root: yaml.Node | None, path: tuple[str | int, ...]) -> str:
    """Return ``:line:column`` of the node at ``path``, or of the nearest one above it."""
    if root is None:
        return ""
    node = root
    for part in path:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if 0 <= part < len(node.value) else None
        if child is None:
            break
        node = child
    return f":{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def load_routing(path: Path | str) -> Routing:
    """Return the routing of the ``alerts.yaml`` at ``path``.

    Raises ``ConfigError`` naming the file and every bad field, each at its line and column;
    a missing file is an error.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML") from None
    return parse_routing(data, str(path), root)
