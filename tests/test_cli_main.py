"""The `firewatch` entry point: usage errors exit 2 and failures exit 1, never a traceback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from monitoring.cli import main
from monitoring.errors import InputError
from monitoring.localstack.catchers import HttpReceiver, Reply


def _main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    monkeypatch.setattr("sys.argv", ["firewatch", *args])
    with pytest.raises(SystemExit) as done:
        main()
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return int(done.value.code or 0), captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("no-such-command",), "No such command 'no-such-command'."),
        (("alerts", "validate", "a.yaml", "b.yaml"), "unexpected extra argument"),
        (("incident", "update", "inc1"), "Missing argument 'message'."),
        (("alerts", "backtest", "--days", "zero"), "Invalid value for '--days'"),
    ],
)
def test_usage_errors_exit_2_with_clicks_message(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    code, err = _main(monkeypatch, capsys, *args)
    assert code == 2
    assert message in err


def test_an_unexpected_error_is_one_sentence_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def explode(*_: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr("monitoring.alerts.rules.check_rules", explode)
    path = tmp_path / "alerts.yaml"
    path.write_text("groups: []\n")
    code, err = _main(monkeypatch, capsys, "alerts", "validate", str(path))
    assert code == 1
    assert "error: KeyError: 'boom' (run with --debug for the traceback)" in " ".join(err.split())


def test_a_firewatch_error_is_its_message_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "rules_test.yaml"
    path.write_bytes(b"\xff")
    code, err = _main(monkeypatch, capsys, "alerts", "test", str(path))
    assert code == 1
    # Rich wraps long lines anywhere: compare without whitespace.
    assert "".join(err.split()) == "".join(f"error: {path}:1:1: not UTF-8 text".split())


def _main_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    monkeypatch.setattr("sys.argv", ["firewatch", *args])
    with pytest.raises(SystemExit) as done:
        main()
    return int(done.value.code or 0), capsys.readouterr().out


def test_with_json_a_failure_is_a_json_error_on_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "rules_test.yaml"
    path.write_bytes(b"- 1\n")
    code, out = _main_stdout(monkeypatch, capsys, "alerts", "test", str(path), "--json")
    assert code == 1
    assert json.loads(out) == {
        "error": f"{path}:1:1: a rule test file is a mapping with rule_files, params and tests",
        "exit_code": 1,
    }


def test_with_json_a_usage_error_is_a_json_error_on_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _main_stdout(monkeypatch, capsys, "alerts", "backtest", "--days", "0", "--json")
    assert code == 2
    assert json.loads(out)["exit_code"] == 2
    assert "--days" in json.loads(out)["error"]


def test_with_json_a_bad_setting_is_named_in_the_json_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FIREWATCH_DAILY_BUDGET_USD", "lots")
    code, out = _main_stdout(monkeypatch, capsys, "backup", "list", "--json")
    assert code == 2
    assert json.loads(out)["error"].startswith("invalid configuration: FIREWATCH_DAILY_BUDGET_USD:")


def test_a_bad_setting_is_a_usage_error_for_notify_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FIREWATCH_NOTIFY__SMTP_SECURITY", "ssl")
    code, err = _main(monkeypatch, capsys, "notify", "receivers")
    assert code == 2
    assert "FIREWATCH_NOTIFY__SMTP_SECURITY" in err


def test_a_kpi_window_too_long_to_reach_back_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # It was an OverflowError; tests/kpi belongs to the KPI engineer, so the check lives here.
    for window, problem in (
        ("99999999999999d", "is longer than 36500 days"),
        ("36501d", "is longer than 36500 days"),
        ("0m", "is shorter than one minute"),
    ):
        code, err = _main(
            monkeypatch, capsys, "kpis", "show", "api_response_time_ms", "--window", window
        )
        assert code == 2
        assert f"--window '{window}' {problem}" in " ".join(err.split())


def test_an_input_error_from_a_typed_argument_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*_: object) -> None:
        raise InputError("matcher 'garbage' must look like name=value")

    monkeypatch.setattr("monitoring.alerts.rules.check_rules", refuse)
    code, err = _main(monkeypatch, capsys, "alerts", "validate", "alerts.yaml")
    assert code == 2
    assert "error: matcher 'garbage' must look like name=value" in " ".join(err.split())


def _dev_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> None:
    monkeypatch.setenv("FIREWATCH_STATE_DIR", str(tmp_path))
    (tmp_path / "dev.json").write_text(text)


def test_run_with_a_corrupt_dev_state_file_says_which_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _dev_state(monkeypatch, tmp_path, "{not json")
    code, err = _main(monkeypatch, capsys, "run", "evaluate_alerts")
    assert code == 1
    assert "".join(err.split()) == "".join(
        f"error: {tmp_path / 'dev.json'} is not the dev host's state file; "
        "delete it or use --in-process".split()
    )


def test_run_of_a_name_the_dev_host_does_not_know_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    receiver: HttpReceiver,
) -> None:
    receiver.script(
        "/__/run/nosuch", Reply(404, body={"error": "no scheduled function named 'nosuch'"})
    )
    _dev_state(monkeypatch, tmp_path, json.dumps({"url": receiver.url}))
    code, err = _main(monkeypatch, capsys, "run", "nosuch")
    assert code == 2
    assert "error: no scheduled function named 'nosuch'" in err


def test_run_when_the_dev_host_answers_html_is_one_sentence(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    receiver: HttpReceiver,
) -> None:
    receiver.script("/__/run/evaluate_alerts", Reply(502, body="<html>bad gateway</html>"))
    _dev_state(monkeypatch, tmp_path, json.dumps({"url": receiver.url}))
    code, err = _main(monkeypatch, capsys, "run", "evaluate_alerts")
    assert code == 1
    assert "answered HTTP 502 without JSON" in " ".join(err.split())


def test_an_alert_history_reaching_past_year_one_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _main(monkeypatch, capsys, "alerts", "history", "--since", "9999999d")
    assert code == 2
    assert "duration '9999999d' is longer than 36500 days" in " ".join(err.split())


def test_missing_google_credentials_say_how_to_get_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from google.auth.exceptions import DefaultCredentialsError

    def no_credentials(*_: object) -> None:
        raise DefaultCredentialsError("Your default credentials were not found. To set up...")

    monkeypatch.setattr("monitoring.alerts.rules.check_rules", no_credentials)
    code, err = _main(monkeypatch, capsys, "alerts", "validate", str(tmp_path / "a.yaml"))
    assert code == 1
    assert " ".join(err.split()) == (
        "error: no Google credentials: start the local stack with `make run`, or run "
        "`gcloud auth application-default login` to use the real project"
    )


def test_run_beside_a_dead_dev_host_runs_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    _dev_state(monkeypatch, tmp_path, json.dumps({"url": "http://127.0.0.1:9", "pid": gone.pid}))
    code, err = _main(monkeypatch, capsys, "run", "nosuch")
    # The in-process path answered (it knows the scheduled functions), not the dead URL.
    assert code == 2
    assert "no scheduled function named 'nosuch'; choose one of" in " ".join(err.split())


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        (
            "FIREWATCH_INCIDENTS__ESCALATION_RECEIVERS",
            '[["oncall-slack"], ["oncall-slakc"]]',
            "FIREWATCH_INCIDENTS__ESCALATION_RECEIVERS[1]: alerts.yaml defines no receiver"
            " 'oncall-slakc' (it has oncall-email, oncall-slack, oncall-sms)",
        ),
        (
            "FIREWATCH_INCIDENTS__ESCALATION_RECEIVERS",
            "[[]]",
            "FIREWATCH_INCIDENTS__ESCALATION_RECEIVERS[0] is an empty list; name at least one"
            " receiver of alerts.yaml",
        ),
        (
            "FIREWATCH_MAINTENANCE__REPORT_RECEIVERS",
            '["oncall-mail"]',
            "FIREWATCH_MAINTENANCE__REPORT_RECEIVERS: alerts.yaml defines no receiver"
            " 'oncall-mail' (it has oncall-email, oncall-slack, oncall-sms)",
        ),
        (
            "FIREWATCH_MAINTENANCE__SUMMARY_RECEIVERS",
            '["oncall-slack", "chat"]',
            "FIREWATCH_MAINTENANCE__SUMMARY_RECEIVERS: alerts.yaml defines no receiver"
            " 'chat' (it has oncall-email, oncall-slack, oncall-sms)",
        ),
    ],
    ids=["escalation-typo", "escalation-empty", "report", "summary"],
)
def test_alerts_validate_names_a_configured_receiver_alerts_yaml_lacks(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    problem: str,
) -> None:
    monkeypatch.setenv(variable, value)
    code, out = _main_stdout(monkeypatch, capsys, "alerts", "validate", "alerts.yaml", "--json")
    assert code == 1
    assert json.loads(out)["problems"] == [
        {"file": "alerts.yaml", "line": 1, "column": 1, "message": problem}
    ]

    code, out = _main_stdout(monkeypatch, capsys, "alerts", "validate", "alerts.yaml")
    assert (code, out) == (1, f"alerts.yaml:1:1: {problem}\n")


def test_alerts_validate_accepts_known_receiver_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FIREWATCH_INCIDENTS__ESCALATION_RECEIVERS", '[["oncall-slack"]]')
    monkeypatch.setenv("FIREWATCH_MAINTENANCE__SUMMARY_RECEIVERS", "[]")
    monkeypatch.setattr("sys.argv", ["firewatch", "alerts", "validate", "alerts.yaml", "--json"])
    main()  # exit status 0: it returns
    checked = json.loads(capsys.readouterr().out)
    assert (checked["ok"], checked["problems"]) == (True, [])


def test_expiring_a_silence_by_a_reserved_id_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _main(monkeypatch, capsys, "alerts", "silence", "expire", "__x__")
    assert (code, " ".join(err.split())) == (
        2,
        "error: '__x__' is not a silence id: ids of the form __name__ are reserved",
    )
