from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitoring.backups.catalog import BackupRecord, list_backups, save_record
from monitoring.backups.retention import apply_retention, plan_retention
from monitoring.backups.settings import BackupSettings
from monitoring.config import Settings
from monitoring.store import storage_client

NOW = datetime(2026, 6, 1, 3, tzinfo=UTC)


def _record(day: int, state: str = "succeeded", tags: tuple[str, ...] = ("daily",)) -> BackupRecord:
    slot = NOW - timedelta(days=day)
    return BackupRecord(
        id=f"{slot:%Y%m%dT%H%M}Z",
        kind="logical",
        tags=list(tags),
        slot=slot,
        state=state,
        started_at=slot,
    )


def test_newest_successful_backup_is_kept_even_when_no_tag_keeps_it() -> None:
    records = [_record(0, state="failed"), _record(1, tags=("manual",)), _record(2)]
    policy = BackupSettings(keep_daily=1, keep_manual=0)

    plan = plan_retention(records, policy, NOW)

    assert plan.keep == {records[1].id: ["newest"], records[2].id: ["daily"]}
    assert [r.id for r in plan.delete] == [records[0].id]


def test_a_backup_with_one_keeping_tag_survives_its_other_expired_tags() -> None:
    records = [_record(d, tags=("daily", "weekly") if d == 7 else ("daily",)) for d in range(10)]
    policy = BackupSettings(keep_daily=3, keep_weekly=1)

    plan = plan_retention(records, policy, NOW)

    assert sorted(plan.keep) == sorted([records[0].id, records[1].id, records[2].id, records[7].id])
    assert plan.keep[records[7].id] == ["weekly"]


def test_a_running_backup_is_left_alone_until_it_is_stale() -> None:
    running = _record(0, state="running")

    fresh = plan_retention([running, _record(1)], BackupSettings(), NOW + timedelta(hours=1))
    stale = plan_retention([running, _record(1)], BackupSettings(), NOW + timedelta(hours=13))

    assert fresh.keep[running.id] == ["running"]
    assert [r.id for r in stale.delete] == [running.id]


def test_pruning_deletes_only_the_backups_own_folders(settings: Settings) -> None:
    bucket = storage_client(settings).bucket(settings.backup.bucket)
    records = [_record(d) for d in range(3)]
    for record in records:
        save_record(settings, record)
        bucket.blob(f"{settings.backup.prefix}/{record.id}/a.ndjson.gz").upload_from_string(b"x")
    foreign = [
        "someone-elses/20260530T0300Z/a.ndjson.gz",
        f"{settings.backup.prefix}/restores/r1/before.ndjson.gz",
        f"{settings.backup.prefix}/{records[2].id}-not-a-backup/a",
    ]
    for name in foreign:
        bucket.blob(name).upload_from_string(b"keep me")
    tight = settings.model_copy(
        update={"backup": settings.backup.model_copy(update={"keep_daily": 1})}
    )

    dry = apply_retention(tight, NOW, dry_run=True)
    after_dry = sorted(b.name for b in bucket.list_blobs())
    plan = apply_retention(tight, NOW)

    assert [r.id for r in dry.delete] == [records[1].id, records[2].id]
    assert len(after_dry) == 6
    assert [r.id for r in plan.delete] == [records[1].id, records[2].id]
    assert sorted(b.name for b in bucket.list_blobs()) == sorted(
        [f"{settings.backup.prefix}/{records[0].id}/a.ndjson.gz", *foreign]
    )
    assert [r.id for r in list_backups(settings)] == [records[0].id]
