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


NOT_AN_ADDRESS = "Value error, not an e-mail address: "


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("not-an-address", NOT_AN_ADDRESS + "An email address must have an @-sign."),
        ("", NOT_AN_ADDRESS + "An email address must have an @-sign."),
        (
            "a@@b",
            NOT_AN_ADDRESS + "The part after the @-sign contains invalid characters: '@'.",
        ),
        ("<>", NOT_AN_ADDRESS + "An email address must have an @-sign."),
        (
            "ops@x.com, cto@x.com",
            "Value error, several addresses in one entry: give each its own entry",
        ),
    ],
    ids=["no-at", "empty", "double-at", "empty-angle", "two-in-one"],
)
def test_an_email_receiver_address_is_checked_at_load(to: str, expected: str) -> None:
    receivers = {"mail": {"kind": "email", "to": ["ops@example.com", to]}}

    with pytest.raises(ConfigError) as raised:
        parse_routing({"receivers": receivers})

    assert str(raised.value) == f"alerts.yaml: receivers.mail.email.to.1: {expected}"


def test_an_sms_receiver_number_must_be_e164() -> None:
    receivers = {"pager": {"kind": "sms", "to": ["555-1234"]}}

    with pytest.raises(ConfigError) as raised:
        parse_routing({"receivers": receivers})

    assert str(raised.value) == (
        "alerts.yaml: receivers.pager.sms.to.0: Value error, not an E.164 number: +, country "
        "code, digits only (+15555550100)"
    )


def test_addresses_in_their_usual_forms_load() -> None:
    receivers = {
        "mail": {"kind": "email", "to": ["On-call <oncall@example.com>", '"Doe, J" <j@x.com>']},
        "sms": {"kind": "sms", "to": ["+15555550100", "+442071838750"]},
    }

    routing = parse_routing({"receivers": receivers})

    assert routing.receivers["mail"].to == ["On-call <oncall@example.com>", '"Doe, J" <j@x.com>']
    assert routing.receivers["sms"].to == ["+15555550100", "+442071838750"]


BAD_ADDRESSES = (
    "receivers:\n"
    "  mail:\n"
    "    kind: email\n"
    '    to: [ops@example.com, "not-an-address"]\n'
    "  pager: {kind: sms, to: ['555-1234']}\n"
    "groups: []\n"
)


def test_receiver_errors_give_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(BAD_ADDRESSES, encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        load_routing(path)

    assert str(raised.value) == (
        f"{path}:4:27: receivers.mail.email.to.1: {NOT_AN_ADDRESS}An email address must have "
        f"an @-sign.; {path}:5:27: receivers.pager.sms.to.0: Value error, not an E.164 number: "
        "+, country code, digits only (+15555550100)"
    )


def test_alerts_validate_reports_each_receiver_problem_at_its_line(tmp_path: Path) -> None:
    from monitoring.alerts.rules import check_rules

    path = tmp_path / "alerts.yaml"
    path.write_text(BAD_ADDRESSES, encoding="utf-8")

    rules, problems = check_rules(path)

    assert rules is None
    assert [(p.line, p.column, p.message.split(":", 1)[0]) for p in problems] == [
        (4, 27, "receivers.mail.email.to.1"),
        (5, 27, "receivers.pager.sms.to.0"),
    ]


def test_an_unknown_fallback_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("receivers:\n  chat:\n    kind: slack\n    fallback: nowhere\n")

    with pytest.raises(ConfigError) as raised:
        load_routing(path)

    assert str(raised.value) == (
        f"{path}:4:15: receivers.chat.fallback: unknown receiver 'nowhere'"
    )


def test_receivers_may_be_each_others_fallback() -> None:
    # Delivery never fails over to a receiver the notification already failed on (see
    # test_outbox), so a pair that backs each other up is not a loop; alerts.yaml ships one.
    receivers = {
        "mail": {"kind": "email", "to": ["ops@example.com"], "fallback": "sms"},
        "sms": {"kind": "sms", "to": ["+15555550100"], "fallback": "mail"},
    }

    routing = parse_routing({"receivers": receivers})

    assert (routing.receivers["mail"].fallback, routing.receivers["sms"].fallback) == (
        "sms",
        "mail",
    )
