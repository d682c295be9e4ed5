"""Grandfather-father-son pruning of the backup catalog.

The newest ``keep_daily`` backups tagged daily, ``keep_weekly`` tagged weekly and
``keep_monthly`` tagged monthly are kept (plus ``keep_manual`` manual ones); a backup goes
only when none of its tags keeps it. The newest successful backup is always kept, whatever
the settings say, and a backup that is still running is left to finish. Deleting touches only
objects under ``<prefix>/<backup_id>/``, never anything else in the bucket, and the undo
snapshots of per-user restores older than ``keep_restore_snapshots_days``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitoring.backups.catalog import BackupRecord, list_backups
from monitoring.backups.restore import prune_restore_snapshots
from monitoring.backups.settings import BackupSettings
from monitoring.errors import BackupError
from monitoring.store import Collections, firestore_client, storage_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["RetentionPlan", "apply_retention", "plan_retention"]

logger = logging.getLogger(__name__)

# A run that has said nothing for this long crashed; its partial files are garbage.
STALE_RUNNING = timedelta(hours=12)


@dataclass
class RetentionPlan:
    keep: dict[str, list[str]] = field(default_factory=dict)  # backup id -> reasons
    delete: list[BackupRecord] = field(default_factory=list)
    # Restores whose undo snapshot goes (or, in a dry run, would go).
    restore_snapshots: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "keep": self.keep,
            "delete": [r.id for r in self.delete],
            "restore_snapshots": self.restore_snapshots,
            "dry_run": self.dry_run,
        }


def plan_retention(
    records: list[BackupRecord], policy: BackupSettings, now: datetime
) -> RetentionPlan:
    """Return which backups to keep (with the reasons) and which to delete."""
    plan = RetentionPlan()
    newest_first = sorted(records, key=lambda r: r.slot, reverse=True)
    good = [r for r in newest_first if r.state == "succeeded"]
    limits = {
        "daily": policy.keep_daily,
        "weekly": policy.keep_weekly,
        "monthly": policy.keep_monthly,
        "manual": policy.keep_manual,
    }
    for tag, limit in limits.items():
        for record in [r for r in good if tag in r.tags][:limit]:
            plan.keep.setdefault(record.id, []).append(tag)
    if good:
        plan.keep.setdefault(good[0].id, []).append("newest")
    for record in newest_first:
        if record.state == "running" and now - record.started_at < STALE_RUNNING:
            plan.keep.setdefault(record.id, []).append("running")
    plan.delete = [r for r in newest_first if r.id not in plan.keep]
    return plan


def _delete_files(settings: Settings, record: BackupRecord) -> int:
    if not record.id or "/" in record.id or record.id in {".", ".."}:
        raise BackupError(f"refusing to delete files of a backup named {record.id!r}")
    folder = record.folder(settings)
    bucket = storage_client(settings).bucket(settings.backup.bucket)
    count = 0
    for blob in bucket.list_blobs(prefix=folder):
        if blob.name.startswith(folder):
            blob.delete()
            count += 1
    return count


def apply_retention(settings: Settings, now: datetime, *, dry_run: bool = False) -> RetentionPlan:
    """Prune the catalog by ``plan_retention``; with ``dry_run`` only say what would go."""
    plan = plan_retention(list_backups(settings), settings.backup, now)
    plan.dry_run = dry_run
    if dry_run:
        plan.restore_snapshots = prune_restore_snapshots(settings, now, dry_run=True)
        return plan
    records = firestore_client(settings).collection(Collections.BACKUPS)
    for record in plan.delete:
        files = _delete_files(settings, record)
        records.document(record.id).delete()
        logger.info("pruned backup %s (%s, %d files)", record.id, record.state, files)
    plan.restore_snapshots = prune_restore_snapshots(settings, now)
    return plan
