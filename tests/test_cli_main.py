"""The `firewatch` entry point: usage errors exit 2 and failures exit 1, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitoring.cli import main


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
