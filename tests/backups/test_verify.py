from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitoring.backups.catalog import get_backup
from monitoring.backups.jobs import run_scheduled_backup
from monitoring.backups.verify import check_backups, verify_backup
from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.store import storage_client
from tests.backups.conftest import FakeRecorder, seed

SLOT = datetime(2026, 3, 3, 2, tzinfo=UTC)


def _backup(settings: Settings, clock: ManualClock) -> str:
    seed(settings, users=("u1",))
    record = run_scheduled_backup(settings, SLOT, clock=clock)
    assert record is not None and record.verified is True
    return record.id


def test_a_corrupted_file_fails_verification(
    settings: Settings, clock: ManualClock, kpis: FakeRecorder
) -> None:
    backup_id = _backup(settings, clock)
    blob = (
        storage_client(settings)
        .bucket(settings.backup.bucket)
        .blob(f"{settings.backup.prefix}/{backup_id}/prompts.ndjson.gz")
    )
    data = bytearray(blob.download_as_bytes())
    data[20] ^= 0xFF  # same size, different content
    blob.upload_from_string(bytes(data))

    result = verify_backup(settings, backup_id, clock=clock)

    assert not result.ok
    assert result.problems == ["prompts.ndjson.gz does not match its SHA-256"]
    record = get_backup(settings, backup_id)
    assert (record.state, record.verified) == ("failed", False)
    assert kpis.recorded[-1] == ("backups_failed", 1.0, {"kind": "logical"})


def test_a_missing_file_fails_verification(
    settings: Settings, clock: ManualClock, kpis: FakeRecorder
) -> None:
    backup_id = _backup(settings, clock)
    storage_client(settings).bucket(settings.backup.bucket).blob(
        f"{settings.backup.prefix}/{backup_id}/users.ndjson.gz"
    ).delete()

    result = verify_backup(settings, backup_id, clock=clock)

    assert result.problems == ["users.ndjson.gz is missing"]
    assert result.files == 4


def test_an_intact_backup_verifies(
    settings: Settings, clock: ManualClock, kpis: FakeRecorder
) -> None:
    backup_id = _backup(settings, clock)

    result = verify_backup(settings, backup_id, clock=clock)

    assert result.ok and result.files == 5 and result.bytes > 0
    assert kpis.recorded == [("backups_completed", 1.0, {"kind": "logical"})] * 2


def test_a_stale_newest_backup_is_reported_and_counted(
    settings: Settings, clock: ManualClock, kpis: FakeRecorder
) -> None:
    _backup(settings, clock)

    fresh = check_backups(settings, clock.now() + timedelta(hours=25))
    stale = check_backups(settings, clock.now() + timedelta(hours=27))

    assert fresh.ok and fresh.newest == "20260303T0200Z"
    assert not stale.ok and stale.problems == ["the newest backup 20260303T0200Z is 27.0 h old"]
    assert kpis.recorded[-1][0] == "backups_failed"


def test_no_backup_at_all_is_a_failure(settings: Settings, kpis: FakeRecorder) -> None:
    status = check_backups(settings, SLOT)

    assert status.problems == ["there is no successful backup"]
    assert kpis.recorded == [("backups_failed", 1.0, {"kind": "logical"})]


def test_failure_reaches_the_real_kpi_store(settings: Settings) -> None:
    from monitoring.kpi.query import KpiQuery, Window

    check_backups(settings, SLOT)

    window = Window.utc_day(SLOT)
    failed = KpiQuery(settings).aggregate("backups_failed", "sum", window, {"kind": "logical"})
    assert failed == 1.0
