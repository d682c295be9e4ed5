"""The 02:00 UTC backup job: make the slot's backup, verify it, prune old ones.

Idempotent per slot: the backup's id is its slot, and its record is created with
``create`` (which fails if the document exists), so two deliveries of one trigger make one
backup. A slot whose backup failed may be retried; the retry claims the record with a
conditional update, so two retries still make one attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitoring.backups.catalog import BackupRecord, Manifest, list_backups, save_record
from monitoring.backups.retention import apply_retention
from monitoring.backups.verify import record_outcome, verify_backup
from monitoring.clock import Clock, SystemClock, as_utc, floor_minute
from monitoring.store import Collections, firestore_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = [
    "Exporter",
    "backup_id_for",
    "catch_up_tags",
    "run_backup",
    "run_scheduled_backup",
    "tags_for",
]

logger = logging.getLogger(__name__)

# (settings, backup id, read time, operation callback) -> manifest written
Exporter = Callable[["Settings", str, datetime, Callable[[str], None]], Manifest]


def tags_for(slot: datetime) -> list[str]:
    """Return the retention tags of a scheduled slot: daily, weekly (Sunday), monthly (1st)."""
    slot = as_utc(slot)
    tags = ["daily"]
    if slot.weekday() == 6:
        tags.append("weekly")
    if slot.day == 1:
        tags.append("monthly")
    return tags


def _period_starts(slot: datetime) -> dict[str, datetime]:
    """Return when the week (from its Sunday) and the month of ``slot`` began."""
    day = as_utc(slot).replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "weekly": day - timedelta(days=(day.weekday() + 1) % 7),
        "monthly": day.replace(day=1),
    }


def catch_up_tags(records: list[BackupRecord], slot: datetime) -> list[str]:
    """Return ``tags_for(slot)`` plus weekly or monthly if its period has no good one yet.

    The Sunday or 1st-of-the-month backup can fail; without a stand-in, that week or month
    would keep no backup once its dailies expire.
    """
    tags = set(tags_for(slot))
    for tag, start in _period_starts(slot).items():
        if not any(
            r.state == "succeeded" and tag in r.tags and start <= r.slot < slot for r in records
        ):
            tags.add(tag)
    return [tag for tag in ("daily", "weekly", "monthly") if tag in tags]


def backup_id_for(slot: datetime, *, manual: bool = False) -> str:
    slot = as_utc(slot)
    if manual:
        return f"{slot:%Y%m%dT%H%M%S}Z-manual"
    return f"{floor_minute(slot):%Y%m%dT%H%M}Z"


def default_exporter(settings: Settings) -> Exporter:
    if settings.backup.kind == "managed":
        from monitoring.backups.managed import export_managed

        return lambda s, backup_id, read_time, on_op: export_managed(
            s, backup_id, snapshot_time=read_time, on_operation=on_op
        )
    from monitoring.backups.logical import export_logical

    return lambda s, backup_id, read_time, on_op: export_logical(s, backup_id, read_time=read_time)


def _claim(settings: Settings, record: BackupRecord) -> datetime | None:
    """Create the record, or take over a failed one; return the server's write time.

    None means another delivery already made (or is making) this backup.
    """
    from google.api_core.exceptions import AlreadyExists, FailedPrecondition

    doc = firestore_client(settings).collection(Collections.BACKUPS).document(record.id)
    try:
        return doc.create(record.model_dump()).update_time  # type: ignore[no-any-return]
    except AlreadyExists:
        pass
    snapshot = doc.get()
    if (snapshot.to_dict() or {}).get("state") != "failed":
        logger.info("backup %s already exists; this delivery does nothing", record.id)
        return None
    try:
        option = firestore_client(settings).write_option(last_update_time=snapshot.update_time)
        result = doc.update(record.model_dump(), option=option)
    except FailedPrecondition:
        return None  # another retry took it between our read and our write
    return result.update_time  # type: ignore[no-any-return]


def run_backup(
    settings: Settings,
    backup_id: str,
    slot: datetime,
    tags: list[str],
    *,
    clock: Clock | None = None,
    exporter: Exporter | None = None,
) -> BackupRecord | None:
    """Make one backup (see the module docstring); return its record, None if a duplicate.

    Steps: 1. claim the record; 2. export at the server's claim time (one consistent read
    time for every collection); 3. store the outcome; 4. verify; 5. prune.
    Raises whatever the export raised, after recording the failure.
    """
    clock = clock or SystemClock()
    kind = settings.backup.kind
    record = BackupRecord(id=backup_id, kind=kind, tags=tags, slot=slot, started_at=clock.now())
    read_time = _claim(settings, record)
    if read_time is None:
        return None

    export = exporter or default_exporter(settings)

    def on_operation(name: str) -> None:
        record.operation = name
        save_record(settings, record)

    try:
        manifest = export(settings, backup_id, read_time, on_operation)
    except Exception as error:  # any failure must be recorded before it propagates
        record.state, record.error = "failed", str(error)[:1000] or type(error).__name__
        record.finished_at = clock.now()
        save_record(settings, record)
        record_outcome(settings, False, kind, clock.now())
        logger.error("backup %s failed", backup_id, exc_info=True)
        raise

    record.state, record.finished_at = "succeeded", clock.now()
    record.read_time = manifest.read_time
    record.documents, record.bytes, record.files = (
        manifest.documents,
        manifest.bytes,
        len(manifest.files),
    )
    save_record(settings, record)
    logger.info("backup %s succeeded: %d documents", backup_id, record.documents)

    if settings.backup.verify_after_backup:
        result = verify_backup(settings, backup_id, clock=clock)
        record.state = "succeeded" if result.ok else "failed"
        record.verified = result.ok
    else:
        record_outcome(settings, True, kind, clock.now())
    if settings.backup.prune_after_backup and record.state == "succeeded":
        apply_retention(settings, clock.now())
    return record


def run_scheduled_backup(
    settings: Settings,
    slot: datetime,
    *,
    clock: Clock | None = None,
    exporter: Exporter | None = None,
) -> BackupRecord | None:
    """Make the backup of a 02:00 UTC slot (tags from ``catch_up_tags``); None if a duplicate."""
    slot = floor_minute(slot)
    tags = catch_up_tags(list_backups(settings), slot)
    return run_backup(settings, backup_id_for(slot), slot, tags, clock=clock, exporter=exporter)
