from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitoring.backups.jobs import run_scheduled_backup
from monitoring.backups.recovery import restore_database
from monitoring.backups.restore import _live_docs, record_erasure
from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.store import firestore_client
from tests.backups.conftest import FakeRecorder, seed


def test_the_whole_database_comes_back_from_the_latest_backup_without_erased_data(
    settings: Settings, clock: ManualClock, kpis: FakeRecorder
) -> None:
    seed(settings)
    record = run_scheduled_backup(settings, datetime(2026, 3, 3, 2, tzinfo=UTC), clock=clock)
    assert record is not None
    expected_u2 = _live_docs(settings, "u2")
    db = firestore_client(settings)
    for collection in ("prompts", "executions", "documents", "users", "config"):
        for ref in db.collection(collection).list_documents():
            db.recursive_delete(ref)
    assert record.read_time is not None
    record_erasure(settings, "u1", at=record.read_time + timedelta(minutes=1))

    dry = restore_database(settings, dry_run=True, actor="ops", clock=clock)
    summary = restore_database(settings, actor="ops", clock=clock)

    assert dry["documents"] == 13 and dry["writes"] == 0
    assert _live_docs(settings, "u2") == expected_u2
    assert _live_docs(settings, "u1") == {}
    # u2's 10 documents, both users' notes (no rule makes notes user data here), config/app
    assert summary["documents"] == 13
    assert summary["skipped_erased"] == 10
    assert db.document("config/app").get().to_dict() == {"version": 3}
