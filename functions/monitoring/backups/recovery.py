"""Whole-database recovery from a named or the newest backup (the disaster-recovery path)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from monitoring.backups.audit import write_audit
from monitoring.backups.catalog import BackupRecord, get_backup, list_backups, load_manifest
from monitoring.backups.logical import Progress, restore_all_logical
from monitoring.backups.restore import erased_predicate
from monitoring.clock import Clock, SystemClock
from monitoring.errors import BackupError

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["newest_restorable", "restore_database"]

logger = logging.getLogger(__name__)


def newest_restorable(settings: Settings) -> BackupRecord:
    """Return the newest backup that succeeded and did not fail verification."""
    for record in list_backups(settings):
        if record.state == "succeeded" and record.verified is not False:
            return record
    raise BackupError("there is no successful backup to restore from")


def restore_database(
    settings: Settings,
    backup_id: str | None = None,
    *,
    dry_run: bool = False,
    actor: str = "unknown",
    clock: Clock | None = None,
    progress: Progress | None = None,
    admin: Any = None,
) -> dict[str, Any]:
    """Write a whole backup back into the database; return a summary.

    Documents with the same path are overwritten, others are left alone (as Firestore's
    own import does). Data erased at a user's request after the backup is skipped for
    logical backups; a managed import cannot filter, so its summary warns that erased
    users' data must be deleted again afterwards.
    """
    now = (clock or SystemClock()).now()
    record = get_backup(settings, backup_id) if backup_id else newest_restorable(settings)
    summary: dict[str, Any] = {"backup_id": record.id, "kind": record.kind, "dry_run": dry_run}
    try:
        if record.kind == "logical":
            manifest = load_manifest(settings, record.id)
            erased = erased_predicate(settings, manifest.read_time)
            result = restore_all_logical(
                settings, manifest, erased, dry_run=dry_run, progress=progress
            )
            summary |= result.as_dict()
        else:
            from monitoring.backups.managed import import_managed

            summary["operation"] = import_managed(
                settings, record.id, client=admin, dry_run=dry_run
            )
            summary["warning"] = (
                "a managed import cannot skip erased data; delete erased users' data again"
            )
    except Exception as error:
        write_audit(
            settings, actor=actor, action="restore.database", target=record.id, result="failed",
            at=now, detail={"error": str(error)[:500], "dry_run": dry_run},
        )  # fmt: skip
        raise
    write_audit(
        settings, actor=actor, action="restore.database", target=record.id,
        result="dry-run" if dry_run else "ok", at=now, detail=summary,
    )  # fmt: skip
    logger.info("restored the database from %s (dry run: %s)", record.id, dry_run)
    return summary
