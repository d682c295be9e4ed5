"""alerts.yaml's receivers and routes: parsing, errors that name file and field, routing."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitoring.errors import ConfigError
from monitoring.notifiers.routing import load_routing, parse_routing
from tests.conftest import REPO
from tests.notifiers.conftest import alert

RECEIVERS = {
    "mail": {"kind": "email", "to": ["ops@example.com"]},
    "chat": {"kind": "slack", "fallback": "mail"},
    "pager": {"kind": "pagerduty"},
}


def test_the_shipped_alerts_yaml_routes_critical_to_email_slack_and_sms() -> None:
    routing = load_routing(REPO / "alerts.yaml")

    kinds = [routing.receivers[n].kind for n in routing.route(alert(severity="critical"))]
    assert kinds == ["email", "slack", "sms"]
    warning = routing.route(alert(severity="warning"))
    assert [routing.receivers[n].kind for n in warning] == ["email"]


def test_the_first_matching_route_wins_unless_it_continues() -> None:
    routing = parse_routing(
        {
            "receivers": RECEIVERS,
            "routes": [
                {"labels": {"team": "payments"}, "receivers": ["pager"], "continue": True},
                {"severity": ["critical"], "receivers": ["chat"]},
                {"receivers": ["mail"]},
            ],
        }
    )

    assert routing.route(alert(labels={"team": "payments"})) == ["pager", "chat"]
    assert routing.route(alert(labels={"team": "web"})) == ["chat"]
    assert routing.route(alert(severity="warning")) == ["mail"]


def test_labels_re_must_match_the_whole_value() -> None:
    routing = parse_routing(
        {
            "receivers": RECEIVERS,
            "routes": [{"labels_re": {"env": "prod|staging"}, "receivers": ["mail"]}],
        }
    )

    assert routing.route(alert(labels={"env": "staging"})) == ["mail"]
    assert routing.route(alert(labels={"env": "production"})) == []


def test_errors_name_the_file_and_every_bad_field(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "receivers:\n"
        "  chat: {kind: slack, fallback: nowhere}\n"
        "  fax: {kind: fax}\n"
        "routes:\n"
        "  - {receivers: [chat, ghost]}\n",
        encoding="utf-8",
    )

    with pytest.raises(ConfigError) as raised:
        load_routing(path)

    message = str(raised.value)
    assert message.startswith(str(path))
    assert "receivers.fax" in message


def test_unknown_names_in_routes_and_fallbacks_are_all_reported() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_routing(
            {
                "receivers": {"chat": {"kind": "slack", "fallback": "nowhere"}},
                "routes": [{"receivers": ["chat", "ghost"]}],
            },
            "alerts.yaml",
        )

    assert "routes.0.receivers: unknown receiver 'ghost'" in str(raised.value)
    assert "receivers.chat.fallback: unknown receiver 'nowhere'" in str(raised.value)


def test_a_secret_written_inline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"receivers\.chat\.slack\.url"):
        parse_routing({"receivers": {"chat": {"kind": "slack", "url": "https://hooks/x"}}})


def test_yaml_syntax_errors_give_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("receivers:\n  chat: [unclosed\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=r"alerts.yaml:3:1: not valid YAML"):
        load_routing(path)
