from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from monitoring.backups import restore as restore_module
from monitoring.backups.audit import list_audit
from monitoring.backups.jobs import run_backup
from monitoring.backups.restore import (
    _live_docs,
    record_erasure,
    restore_user_data,
    undo_restore,
    verify_data_integrity,
)
from monitoring.backups.settings import UserCollection
from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.errors import BackupError
from monitoring.store import firestore_client
from tests.backups.conftest import App, FakeRecorder, seed


@pytest.fixture
def app(settings: Settings) -> App:
    with_notes = settings.backup.model_copy(
        update={
            "user_collections": [
                *settings.backup.user_collections,
                UserCollection(path="users/{uid}/notes"),
            ]
        }
    )
    return seed(settings.model_copy(update={"backup": with_notes}))


def _damage(app: App) -> None:
    """After the restore point: u1 loses a prompt and a note, edits one, adds a document;
    u2 edits a prompt (which no restore of u1 may undo)."""
    db = firestore_client(app.settings)
    db.document("prompts/u1-p0").delete()
    db.document("users/u1/notes/n1").delete()
    db.document("executions/u1-e1").update({"tokens": 999})
    db.document("users/u1").update({"plan": "pro"})
    db.document("documents/u1-new").set({"userId": "u1", "body": b"new"})
    db.document("prompts/u2-p1").update({"text": "edited by u2"})


def _state(app: App, uid: str) -> dict[str, Any]:
    return _live_docs(app.settings, uid)


def _point_in_window(app: App) -> tuple[datetime, ManualClock]:
    return app.seeded_at, ManualClock(app.seeded_at + timedelta(minutes=10))


def _point_from_backup(app: App, kpis: FakeRecorder) -> tuple[datetime, ManualClock]:
    record = run_backup(app.settings, "manual-1", app.seeded_at, ["manual"])
    assert record is not None and record.read_time is not None
    # Two hours on, the point is outside the read_time window: only the backup has it.
    return record.read_time, ManualClock(record.read_time + timedelta(hours=2))


@pytest.mark.parametrize("source", ["read_time", "backup"])
def test_replace_restores_the_users_data_exactly_and_leaves_others_alone(
    app: App, kpis: FakeRecorder, source: str
) -> None:
    point, clock = _point_in_window(app) if source == "read_time" else _point_from_backup(app, kpis)
    before_u1 = _state(app, "u1")
    _damage(app)
    u2_after_damage = _state(app, "u2")

    result = restore_user_data(app.settings, "u1", point, "replace", actor="ops@x", clock=clock)

    assert result.source.startswith("read_time" if source == "read_time" else "backup manual-1")
    assert result.creates == ["prompts/u1-p0", "users/u1/notes/n1"]
    assert result.changes == ["executions/u1-e1", "users/u1"]
    assert result.deletes == ["documents/u1-new"]
    assert result.writes == 5
    assert _state(app, "u1") == before_u1
    assert _state(app, "u2") == u2_after_damage


@pytest.mark.parametrize("source", ["read_time", "backup"])
def test_merge_brings_back_missing_and_changed_and_keeps_new_documents(
    app: App, kpis: FakeRecorder, source: str
) -> None:
    point, clock = _point_in_window(app) if source == "read_time" else _point_from_backup(app, kpis)
    before_u1 = _state(app, "u1")
    _damage(app)
    new_doc = _state(app, "u1")["documents/u1-new"]

    result = restore_user_data(app.settings, "u1", point, "merge", clock=clock)

    assert result.deletes == []
    assert _state(app, "u1") == {**before_u1, "documents/u1-new": new_doc}


def test_undo_puts_back_what_the_restore_changed(app: App) -> None:
    point, clock = _point_in_window(app)
    _damage(app)
    damaged = _state(app, "u1")

    result = restore_user_data(app.settings, "u1", point, "replace", clock=clock)
    writes = undo_restore(app.settings, result.restore_id, actor="ops@x", clock=clock)

    assert writes == 5
    assert _state(app, "u1") == damaged
    with pytest.raises(BackupError, match="already undone"):
        undo_restore(app.settings, result.restore_id, clock=clock)


def test_dry_run_lists_the_plan_and_writes_nothing(app: App) -> None:
    point, clock = _point_in_window(app)
    _damage(app)
    damaged = _state(app, "u1")

    result = restore_user_data(app.settings, "u1", point, "replace", dry_run=True, clock=clock)

    assert (len(result.creates), len(result.changes), len(result.deletes)) == (2, 2, 1)
    assert result.writes == 0
    assert _state(app, "u1") == damaged
    assert list_audit(app.settings)[0]["result"] == "dry-run"


def test_documents_erased_at_the_users_request_stay_erased(app: App) -> None:
    point, clock = _point_in_window(app)
    _damage(app)
    firestore_client(app.settings).document("documents/u1-d2").delete()
    record_erasure(
        app.settings, "u1", at=clock.now() - timedelta(minutes=1), paths=["documents/u1-d2"]
    )

    result = restore_user_data(app.settings, "u1", point, "replace", clock=clock)

    assert result.skipped_erased == ["documents/u1-d2"]
    assert "documents/u1-d2" not in _state(app, "u1")
    assert "prompts/u1-p0" in _state(app, "u1")


def test_an_erased_account_is_never_restored(app: App) -> None:
    point, clock = _point_in_window(app)
    record_erasure(app.settings, "u1", at=clock.now() - timedelta(minutes=1), actor="u1")

    with pytest.raises(BackupError, match="erased"):
        restore_user_data(app.settings, "u1", point, "merge", clock=clock)
    assert list_audit(app.settings)[0]["result"] == "failed"


def test_every_recovery_action_is_audited(app: App) -> None:
    point, clock = _point_in_window(app)
    _damage(app)

    result = restore_user_data(app.settings, "u1", point, "replace", actor="alice", clock=clock)
    clock.advance(minutes=1)
    undo_restore(app.settings, result.restore_id, actor="bob", clock=clock)

    entries = list_audit(app.settings)
    assert [(e["action"], e["actor"], e["result"], e["target"]) for e in entries] == [
        ("restore.undo", "bob", "ok", "u1"),
        ("restore.user", "alice", "ok", "u1"),
    ]
    assert entries[1]["detail"]["writes"] == 5
    assert entries[1]["at"] == clock.now() - timedelta(minutes=1)


def test_integrity_matches_after_a_restore_and_reports_dangling_references(app: App) -> None:
    point, clock = _point_in_window(app)
    _damage(app)
    restore_user_data(app.settings, "u1", point, "replace", clock=clock)

    clean = verify_data_integrity(app.settings, "u1")
    firestore_client(app.settings).document("prompts/u1-p2").delete()
    broken = verify_data_integrity(app.settings, "u1")
    against_point = verify_data_integrity(app.settings, "u1", restore_point=point, clock=clock)

    assert clean.ok and clean.collections["prompts"]["count"] == 3
    assert broken.mismatched == ["prompts"]
    assert broken.dangling == ["executions/u1-e2: promptId 'u1-p2' names no document in prompts"]
    assert against_point.mismatched == ["prompts"]


def test_points_older_than_an_hour_are_read_as_of_their_minute(settings: Settings) -> None:
    from datetime import UTC

    from monitoring.backups.restore import choose_source

    week = settings.model_copy(
        update={"backup": settings.backup.model_copy(update={"pitr_window_s": 7 * 86400})}
    )
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)

    recent = choose_source(week, now - timedelta(minutes=30, seconds=7), now)
    older = choose_source(week, now - timedelta(hours=5, seconds=7), now)

    assert recent.time == now - timedelta(minutes=30, seconds=7)
    assert older.time == datetime(2026, 3, 2, 6, 59, tzinfo=UTC)
    assert older.kind == "read_time"


def test_a_restore_that_fails_part_way_can_be_undone_by_the_id_in_its_error(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    point, clock = _point_in_window(app)
    _damage(app)
    damaged = _state(app, "u1")
    settings = app.settings.model_copy(
        update={"backup": app.settings.backup.model_copy(update={"write_batch": 2})}
    )
    real_write = restore_module._write

    def write_then_fail(settings: Settings, sets: Any, deletes: list[str]) -> int:
        # The first batch of two lands; then the database goes away.
        first = dict(list(sets.items())[:2])
        real_write(settings, first, [])
        raise OSError("connection reset")

    monkeypatch.setattr(restore_module, "_write", write_then_fail)
    with pytest.raises(BackupError) as failed:
        restore_user_data(settings, "u1", point, "replace", clock=clock)
    monkeypatch.setattr(restore_module, "_write", real_write)
    assert _state(app, "u1") != damaged  # half-written

    restore_id = str(failed.value).split()[1]
    assert f"`firewatch restore undo {restore_id}`" in str(failed.value)
    assert list_audit(settings)[0]["result"] == "failed"
    undo_restore(settings, restore_id, clock=clock)
    assert _state(app, "u1") == damaged


def test_pruning_deletes_undo_snapshots_past_the_window_and_undo_then_says_why(
    app: App,
) -> None:
    from monitoring.backups.retention import apply_retention
    from monitoring.store import storage_client

    point, clock = _point_in_window(app)
    _damage(app)
    result = restore_user_data(app.settings, "u1", point, "replace", clock=clock)
    bucket = storage_client(app.settings).bucket(app.settings.backup.bucket)
    folder = f"{app.settings.backup.prefix}/restores/{result.restore_id}/"

    def saved() -> list[str]:
        return sorted(b.name.removeprefix(folder) for b in bucket.list_blobs(prefix=folder))

    inside = apply_retention(app.settings, clock.now() + timedelta(days=29))
    later = clock.now() + timedelta(days=31)
    dry = apply_retention(app.settings, later, dry_run=True)
    assert inside.restore_snapshots == []
    assert dry.restore_snapshots == [result.restore_id]
    assert saved() == ["before.ndjson.gz", "plan.json"]

    plan = apply_retention(app.settings, later)
    again = apply_retention(app.settings, later)

    assert plan.restore_snapshots == [result.restore_id]
    assert again.restore_snapshots == []
    assert saved() == []
    with pytest.raises(BackupError, match="can no longer be undone"):
        undo_restore(app.settings, result.restore_id, clock=ManualClock(later))


def test_a_field_whose_number_type_changed_is_restored(app: App) -> None:
    point, clock = _point_in_window(app)
    db = firestore_client(app.settings)
    # Equal in Python (10 == 10.0, 0 == False), different types in Firestore.
    db.document("executions/u1-e1").update({"tokens": 10.0})
    db.document("executions/u1-e0").update({"tokens": False})

    result = restore_user_data(app.settings, "u1", point, "replace", clock=clock)

    assert result.changes == ["executions/u1-e0", "executions/u1-e1"]
    tokens = {
        path: db.document(path).get().to_dict()["tokens"]
        for path in ("executions/u1-e0", "executions/u1-e1")
    }
    assert tokens == {"executions/u1-e0": 0, "executions/u1-e1": 10}
    assert [type(value) for value in tokens.values()] == [int, int]
    assert verify_data_integrity(app.settings, "u1").ok
