from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from monitoring.backups.catalog import (
    BackupRecord,
    FileEntry,
    Manifest,
    get_backup,
    list_backups,
)
from monitoring.backups.jobs import (
    backup_id_for,
    catch_up_tags,
    run_scheduled_backup,
    tags_for,
)
from monitoring.backups.retention import plan_retention
from monitoring.backups.settings import BackupSettings
from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.errors import BackupError
from monitoring.store import storage_client
from tests.backups.conftest import FakeRecorder, seed


@pytest.mark.parametrize(
    ("slot", "tags"),
    [
        (datetime(2026, 3, 3, 2, tzinfo=UTC), ["daily"]),
        (datetime(2026, 3, 8, 2, tzinfo=UTC), ["daily", "weekly"]),
        (datetime(2026, 4, 1, 2, tzinfo=UTC), ["daily", "monthly"]),
        (datetime(2026, 11, 1, 2, tzinfo=UTC), ["daily", "weekly", "monthly"]),
    ],
    ids=["tuesday", "sunday", "first", "sunday-first"],
)
def test_slot_tags(slot: datetime, tags: list[str]) -> None:
    assert tags_for(slot) == tags


def test_duplicate_trigger_makes_one_backup(
    settings: Settings, clock: ManualClock, kpis: FakeRecorder
) -> None:
    seed(settings, users=("u1",))
    slot = datetime(2026, 3, 3, 2, tzinfo=UTC)

    first = run_scheduled_backup(settings, slot, clock=clock)
    clock.advance(seconds=30)
    second = run_scheduled_backup(settings, slot + timedelta(seconds=5), clock=clock)

    assert first is not None and first.state == "succeeded" and first.verified is True
    assert second is None
    assert [r.id for r in list_backups(settings)] == ["20260303T0200Z"]
    assert kpis.recorded == [("backups_completed", 1.0, {"kind": "logical"})]


def test_failed_export_is_recorded_and_a_retry_of_the_slot_succeeds(
    settings: Settings, clock: ManualClock, kpis: FakeRecorder
) -> None:
    slot = datetime(2026, 3, 3, 2, tzinfo=UTC)

    def broken(*_: object) -> Manifest:
        raise BackupError("bucket is gone")

    with pytest.raises(BackupError):
        run_scheduled_backup(settings, slot, clock=clock, exporter=broken)
    failed = get_backup(settings, "20260303T0200Z")
    retried = run_scheduled_backup(settings, slot, clock=clock)

    assert (failed.state, failed.error) == ("failed", "bucket is gone")
    assert retried is not None and retried.state == "succeeded"
    assert [m for m, _, _ in kpis.recorded] == ["backups_failed", "backups_completed"]


def _tiny_exporter() -> Callable[[Settings, str, datetime, Callable[[str], None]], Manifest]:
    """Write one small object per backup: the year test is about the catalog, not the data."""

    def export(settings: Settings, backup_id: str, read_time: datetime, _: object) -> Manifest:
        import hashlib

        body = backup_id.encode()
        bucket = storage_client(settings).bucket(settings.backup.bucket)
        bucket.blob(f"{settings.backup.prefix}/{backup_id}/data.bin").upload_from_string(body)
        entry = FileEntry(name="data.bin", bytes=len(body), sha256=hashlib.sha256(body).hexdigest())
        manifest = Manifest(
            backup_id=backup_id, kind="logical", read_time=read_time, collections=[], files=[entry]
        )
        bucket.blob(f"{settings.backup.prefix}/{backup_id}/manifest.json").upload_from_string(
            manifest.model_dump_json()
        )
        return manifest

    return export


def _promised(days: list[date], daily: int, weekly: int, monthly: int) -> set[date]:
    sundays = [d for d in days if d.weekday() == 6]
    firsts = [d for d in days if d.day == 1]
    return set(days[-daily:]) | set(sundays[-weekly:]) | set(firsts[-monthly:])


def test_a_year_of_daily_runs_leaves_what_retention_promises() -> None:
    """The whole year against the retention planner, pruning after each run as the job does."""
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(365)]
    catalog: list[BackupRecord] = []
    for day in days:
        slot = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
        catalog.append(
            BackupRecord(
                id=backup_id_for(slot), kind="logical", tags=tags_for(slot), slot=slot,
                state="succeeded", started_at=slot,
            )
        )  # fmt: skip
        plan = plan_retention(catalog, BackupSettings(), slot + timedelta(minutes=5))
        catalog = [r for r in catalog if r.id in plan.keep]

    kept = {r.slot.date() for r in catalog}
    assert kept == _promised(days, 30, 12, 12)
    assert len(kept) == 30 + 8 + 11  # weeks and months overlap the last 30 days


def test_a_failed_sunday_or_first_hands_its_tag_to_the_next_good_backup() -> None:
    """Feb 8 (a Sunday) and Mar 1 (a Sunday and a 1st) fail; the day after stands in."""
    failing = {date(2026, 2, 8), date(2026, 3, 1)}
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(90)]
    catalog: list[BackupRecord] = []
    for day in days:
        slot = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
        catalog.append(
            BackupRecord(
                id=backup_id_for(slot), kind="logical", tags=catch_up_tags(catalog, slot),
                slot=slot, state="failed" if day in failing else "succeeded", started_at=slot,
            )
        )  # fmt: skip
        plan = plan_retention(catalog, BackupSettings(keep_daily=7), slot + timedelta(minutes=5))
        catalog = [r for r in catalog if r.id in plan.keep]

    tags = {r.slot.date(): r.tags for r in catalog}
    assert tags[date(2026, 2, 9)] == ["daily", "weekly"]
    assert tags[date(2026, 3, 2)] == ["daily", "weekly", "monthly"]
    assert tags[date(2026, 3, 8)] == ["daily", "weekly"]
    assert sorted(d for d, t in tags.items() if "monthly" in t) == [
        date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 2)
    ]  # fmt: skip
    assert date(2026, 3, 3) not in tags  # one stand-in per period, not every day after


def test_two_months_of_scheduled_runs_prune_storage_and_catalog(
    settings: Settings, kpis: FakeRecorder
) -> None:
    """The real job, day by day, with a small policy so every rule has something to drop."""
    small = settings.model_copy(
        update={
            "backup": settings.backup.model_copy(
                update={
                    "verify_after_backup": False,
                    "keep_daily": 7,
                    "keep_weekly": 4,
                    "keep_monthly": 2,
                }
            )
        }
    )
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(60)]
    clock = ManualClock(datetime(2026, 1, 1, 2, tzinfo=UTC))
    exporter = _tiny_exporter()
    for day in days:
        slot = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
        clock.set(slot + timedelta(minutes=3))
        run_scheduled_backup(small, slot, clock=clock, exporter=exporter)

    promised = _promised(days, 7, 4, 2)
    kept = {r.slot.date() for r in list_backups(settings)}
    stored = {
        blob.name.split("/")[1]
        for blob in storage_client(settings).list_blobs(settings.backup.bucket)
    }
    assert kept == promised
    # Daily Feb 23 - Mar 1; weekly adds Feb 8, 15, 22 (Mar 1 is already daily); monthly Feb 1.
    assert len(kept) == 7 + 3 + 1
    assert stored == {f"{d:%Y%m%d}T0200Z" for d in promised}
