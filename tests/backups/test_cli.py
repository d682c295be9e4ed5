from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from monitoring.backups.cli import parse_time
from monitoring.cli import app
from monitoring.config import Settings
from tests.backups.conftest import FakeRecorder, seed


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("FIREWATCH_PROJECT_ID", settings.project_id)
    monkeypatch.setenv("FIREWATCH_BACKUP__BUCKET", settings.backup.bucket)
    return settings


def test_backup_now_then_list_and_verify(cli_env: Settings, kpis: FakeRecorder) -> None:
    seed(cli_env, users=("u1",))
    runner = CliRunner()

    made = runner.invoke(app, ["backup", "now", "--json"])
    listed = runner.invoke(app, ["backup", "list", "--json"])
    verified = runner.invoke(app, ["backup", "verify", "--json"])

    assert made.exit_code == 0, made.output
    backup = json.loads(made.stdout)
    assert backup["state"] == "succeeded" and backup["tags"] == ["manual"]
    assert [b["id"] for b in json.loads(listed.stdout)] == [backup["id"]]
    assert json.loads(verified.stdout)["ok"] is True


def test_restore_user_dry_run_prints_the_plan(cli_env: Settings) -> None:
    app_data = seed(cli_env, users=("u1",))
    from monitoring.store import firestore_client

    firestore_client(cli_env).document("prompts/u1-p0").delete()
    at = app_data.seeded_at.isoformat()

    result = CliRunner().invoke(
        app, ["restore", "user", "u1", "--at", at, "--dry-run", "--json", "--actor", "t"]
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["creates"] == ["prompts/u1-p0"]

    table = CliRunner().invoke(app, ["restore", "user", "u1", "--at", at, "--dry-run"])

    assert table.exit_code == 0, table.output
    assert "create         prompts/u1-p0" in table.stdout
    assert "1 writes planned (dry run)" in table.stdout


def test_restore_undo_of_unknown_id_fails_with_one_sentence(cli_env: Settings) -> None:
    result = CliRunner().invoke(app, ["restore", "undo", "nope"])

    assert result.exit_code == 1
    assert "no restore named 'nope'" in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", datetime(2026, 3, 2, 10, tzinfo=UTC)),
        ("90m", datetime(2026, 3, 2, 10, 30, tzinfo=UTC)),
        ("2026-03-01T08:00:00Z", datetime(2026, 3, 1, 8, tzinfo=UTC)),
        ("2026-03-01T08:00:00", datetime(2026, 3, 1, 8, tzinfo=UTC)),
    ],
    ids=["hours", "minutes", "zulu", "naive-is-utc"],
)
def test_restore_points_parse(text: str, expected: datetime) -> None:
    assert parse_time(text, datetime(2026, 3, 2, 12, tzinfo=UTC)) == expected
    assert expected - timedelta(0) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["restore", "undo", "../x"], "'../x' is not a restore id: it contains '/'"),
        (["restore", "verify", "a/b"], "'a/b' is not a user id: it contains '/'"),
        (
            ["restore", "verify", "u" * 2000],
            f"{'u' * 40 + '...'!r} is not a user id: it is longer than 1500 bytes",
        ),
        (["restore", "user", "", "--at", "2h"], "'' is not a user id: it is empty"),
        (["backup", "verify", ""], "'' is not a backup id: it is empty"),
        (
            ["backup", "restore-all", "--backup", "__x__", "--yes"],
            "'__x__' is not a backup id: ids of the form __name__ are reserved",
        ),
        (["restore", "erase", ""], "'' is not a user id: it is empty"),
        (
            ["restore", "erase", "bob", "--path", "prompts"],
            "--path 'prompts' is not a document path (e.g. prompts/p1): it names a collection"
            " (a document path has an even number of parts)",
        ),
        (
            ["restore", "erase", "bob", "--path", "prompts/p1", "--path", "bob/../x"],
            "--path 'bob/../x' is not a document path (e.g. prompts/p1): part 2 ('..'):"
            " '.' and '..' are not ids",
        ),
    ],
    ids=[
        "undo-dot-dot",
        "verify-slash",
        "verify-too-long",
        "user-empty",
        "backup-empty",
        "restore-all-reserved",
        "erase-empty",
        "erase-collection-path",
        "erase-dot-dot-path",
    ],
)
def test_an_id_or_path_no_document_can_have_is_a_usage_error(
    cli_env: Settings, args: list[str], message: str
) -> None:
    from monitoring.store import Collections, firestore_client

    result = CliRunner().invoke(app, args)

    assert (result.exit_code, " ".join(result.output.split())) == (2, f"error: {message}")
    assert list(firestore_client(cli_env).collection(Collections.ERASURES).stream()) == []
    assert list(firestore_client(cli_env).collection(Collections.AUDIT).stream()) == []


def test_an_erasure_of_nobody_is_refused_where_it_is_recorded(cli_env: Settings) -> None:
    from monitoring.backups.restore import record_erasure
    from monitoring.errors import InputError

    with pytest.raises(InputError, match=r"^'' is not a user id: it is empty$"):
        record_erasure(cli_env, "", at=datetime(2026, 3, 2, tzinfo=UTC))
    with pytest.raises(InputError, match=r"^'prompts' is not a document path"):
        record_erasure(cli_env, "bob", at=datetime(2026, 3, 2, tzinfo=UTC), paths=["prompts"])
