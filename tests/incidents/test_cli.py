"""`firewatch incident ...` against the Firestore emulator."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from monitoring.cli import app
from monitoring.config import Settings
from monitoring.incidents import service
from tests.conftest import PROJECT, REPO


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("FIREWATCH_PROJECT_ID", PROJECT)
    monkeypatch.setenv("FIREWATCH_ALERTS_FILE", str(REPO / "alerts.yaml"))
    monkeypatch.setenv("FIREWATCH_ACTOR", "ana")
    return CliRunner()


def test_open_ack_update_resolve_and_list_through_the_cli(
    cli: CliRunner, settings: Settings
) -> None:
    opened = cli.invoke(app, ["incident", "open", "Checkout failing", "--priority", "p1", "--json"])
    assert opened.exit_code == 0, opened.output
    incident_id = json.loads(opened.stdout)["id"]

    acked = cli.invoke(app, ["incident", "ack", incident_id, "--as", "bo"])
    assert acked.exit_code == 0
    assert "acknowledged by bo" in acked.stdout

    updated = cli.invoke(
        app, ["incident", "update", incident_id, "Rolling back", "--status", "identified"]
    )
    assert updated.exit_code == 0, updated.output
    listed = json.loads(cli.invoke(app, ["incident", "list", "--json"]).stdout)
    assert [(i["id"], i["status"], i["priority"]) for i in listed] == [
        (incident_id, "identified", "P1")
    ]

    resolved = cli.invoke(app, ["incident", "resolve", incident_id, "--message", "Rolled back"])
    assert resolved.exit_code == 0
    assert "review due" in resolved.stdout
    stored = service.get_incident(settings, incident_id)
    assert [e.actor for e in stored.timeline] == ["ana", "bo", "ana", "ana"]
    assert cli.invoke(app, ["incident", "list"]).stdout.strip() == "no open incidents"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["incident", "open", "x", "--priority", "P9"], "P0, P1, P2, P3"),
        (["incident", "update", "INC-1", "m", "--status", "done"], "investigating"),
        (["incident", "mitigate", "circuit_breaker", "--params", "{bad"], "not JSON"),
    ],
    ids=["bad-priority", "bad-status", "bad-params"],
)
def test_cli_refuses_bad_input_with_exit_2(cli: CliRunner, args: list[str], message: str) -> None:
    result = cli.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


def _main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    from monitoring.cli import main

    monkeypatch.setattr("sys.argv", ["firewatch", *args])
    with pytest.raises(SystemExit) as done:
        main()
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return int(done.value.code or 0), " ".join(captured.err.split())


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        (
            "security_lockdown",
            '{"all": "false", "uids": ["u-1"]}',
            'error: security_lockdown --params: all must be JSON true or false (not "false")',
        ),
        (
            "security_lockdown",
            '{"uids": 5}',
            'error: security_lockdown --params: uids must be a list, e.g. ["u-1"]',
        ),
        (
            "circuit_breaker",
            '{"flag": "payments", "open": "false"}',
            'error: circuit_breaker --params: open must be JSON true or false (not "false")',
        ),
    ],
    ids=["all-string", "uids-number", "open-string"],
)
def test_mitigate_with_loose_params_is_a_usage_error(
    cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    params: str,
    message: str,
) -> None:
    code, err = _main(
        monkeypatch, capsys, "incident", "mitigate", kind, "--params", params, "--apply"
    )
    assert (code, err) == (2, message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["incident", "show", ""], "error: '' is not an incident id: it is empty"),
        (["incident", "ack", "a/b"], "error: 'a/b' is not an incident id: it contains '/'"),
        (
            ["incident", "resolve", ".."],
            "error: '..' is not an incident id: '.' and '..' are not ids",
        ),
        (
            ["incident", "update", "__x__", "m"],
            "error: '__x__' is not an incident id: ids of the form __name__ are reserved",
        ),
        (
            ["incident", "show", "é" * 751],
            f"error: {'é' * 40 + '...'!r} is not an incident id: it is longer than 1500 bytes",
        ),
        (
            [
                "incident",
                "mitigate",
                "circuit_breaker",
                "--params",
                '{"flag": "x"}',
                "--incident",
                ".",
            ],
            "error: '.' is not an incident id: '.' and '..' are not ids",
        ),
    ],
    ids=["empty", "slash", "dot-dot", "reserved", "too-long", "mitigate"],
)
def test_an_id_no_incident_can_have_is_a_usage_error(
    cli: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    assert _main(monkeypatch, capsys, *args) == (2, message)


def test_an_incident_that_does_not_exist_is_one_sentence(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(monkeypatch, capsys, "incident", "show", "INC-missing") == (
        1,
        "error: no incident 'INC-missing'; `firewatch incident list` shows them",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["x" * 100_000],
            "error: title is 100000 characters; keep it to 200 and put the details in the"
            " first update (--message)",
        ),
        (
            ["x" * 201],
            "error: title is 201 characters; keep it to 200 and put the details in the"
            " first update (--message)",
        ),
        (
            ["Checkout\nfailing"],
            "error: title holds a line break or control character (U+000A); keep it to one"
            " line of text",
        ),
        (
            ["Checkout\x00failing"],
            "error: title holds a line break or control character (U+0000); keep it to one"
            " line of text",
        ),
        (["  "], "error: title is empty; describe what users see"),
        (
            ["Checkout failing", "--service", ""],
            "error: service is empty; name the affected service or leave it out (default 'app')",
        ),
    ],
    ids=["huge-title", "title-201", "newline", "nul", "blank-title", "empty-service"],
)
def test_open_refuses_a_title_or_service_no_one_can_read(
    cli: CliRunner,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    assert _main(monkeypatch, capsys, "incident", "open", *args) == (2, message)
    assert service.list_incidents(settings) == []


def test_open_takes_a_title_of_exactly_200_characters(cli: CliRunner, settings: Settings) -> None:
    opened = cli.invoke(app, ["incident", "open", f"  {'x' * 200}  ", "--json"])
    assert opened.exit_code == 0, opened.output
    assert [len(i.title) for i in service.list_incidents(settings)] == [200]


def test_unknown_incident_raises_not_found_for_the_top_level_handler(cli: CliRunner) -> None:
    from monitoring.errors import NotFound

    result = cli.invoke(app, ["incident", "ack", "INC-missing"])
    assert isinstance(result.exception, NotFound)
    assert "no incident 'INC-missing'" in str(result.exception)


def test_mitigate_is_a_dry_run_unless_applied(cli: CliRunner, settings: Settings) -> None:
    from monitoring.incidents.mitigation import is_flag_open

    dry = cli.invoke(
        app, ["incident", "mitigate", "circuit_breaker", "--params", '{"flag": "search"}', "--json"]
    )
    assert json.loads(dry.stdout)["dry_run"] is True
    assert is_flag_open(settings, "search") is False
    real = cli.invoke(
        app,
        ["incident", "mitigate", "circuit_breaker", "--params", '{"flag": "search"}', "--apply"],
    )
    assert real.exit_code == 0
    assert is_flag_open(settings, "search") is True


def test_titles_are_shown_as_written_not_read_as_terminal_styles(cli: CliRunner) -> None:
    opened = cli.invoke(app, ["incident", "open", "[replay] backup_missing [bold]x[/]"])
    listed = cli.invoke(app, ["incident", "list"])

    assert "[replay] backup_missing [bold]x[/]" in opened.stdout
    assert "[replay] backup_missing" in listed.stdout
