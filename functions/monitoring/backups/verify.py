"""Backup verification: every file in the manifest exists with its recorded size and hash.

A backup that does not verify is marked failed and counted in the ``backups_failed`` KPI,
which the "backup failed" alert watches; one that does is counted in ``backups_completed``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitoring.backups.catalog import get_backup, list_backups, load_manifest, save_record
from monitoring.clock import Clock, SystemClock
from monitoring.errors import BackupError, NotFound
from monitoring.store import storage_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["BackupStatus", "VerificationResult", "check_backups", "record_outcome", "verify_backup"]

logger = logging.getLogger(__name__)

_READ_CHUNK = 1024 * 1024


@dataclass
class VerificationResult:
    backup_id: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def record_outcome(settings: Settings, ok: bool, kind: str, at: datetime) -> None:
    """Count a backup as completed or failed in the KPI store."""
    metric = "backups_completed" if ok else "backups_failed"
    # A KPI that cannot be written must not turn a good backup into a failed one (nor hide
    # the real failure), so this one guard catches everything and logs it.
    try:
        from monitoring.kpi.recorder import get_recorder  # type: ignore[attr-defined,unused-ignore]

        recorder = get_recorder(settings)
        recorder.record(metric, 1.0, {"kind": kind}, at=at)
        recorder.flush(at)
    except Exception:
        logger.error("could not record the %s KPI", metric, exc_info=True)


def _hash_object(blob: Any) -> tuple[str, str, int]:
    """Return (sha256 hex, crc32c base64, size) of an object, streamed."""
    import google_crc32c

    sha, crc, size = hashlib.sha256(), google_crc32c.Checksum(), 0  # type: ignore[no-untyped-call]
    with blob.open("rb", chunk_size=_READ_CHUNK) as stream:
        while chunk := stream.read(_READ_CHUNK):
            sha.update(chunk)
            crc.update(chunk)  # type: ignore[no-untyped-call]
            size += len(chunk)
    crc_b64 = base64.b64encode(crc.digest()).decode()  # type: ignore[no-untyped-call]
    return sha.hexdigest(), crc_b64, size


def verify_backup(
    settings: Settings, backup_id: str, *, clock: Clock | None = None, record_kpi: bool = True
) -> VerificationResult:
    """Check a backup's files against its manifest, store the verdict on its record.

    Raises ``NotFound`` only when there is no such backup record; everything wrong with
    the files themselves is reported in the result (``ok`` False, ``problems``).
    """
    now = (clock or SystemClock()).now()
    record = get_backup(settings, backup_id)
    result = VerificationResult(backup_id, ok=True)

    try:
        manifest = load_manifest(settings, backup_id)
    except (NotFound, BackupError) as unreadable:
        result.problems.append(str(unreadable))
    else:
        bucket = storage_client(settings).bucket(settings.backup.bucket)
        folder = record.folder(settings)
        for entry in manifest.files:
            blob = bucket.get_blob(folder + entry.name)
            if blob is None:
                result.problems.append(f"{entry.name} is missing")
                continue
            sha, crc, size = _hash_object(blob)
            result.files += 1
            result.bytes += size
            if size != entry.bytes:
                result.problems.append(f"{entry.name} is {size} bytes, manifest says {entry.bytes}")
            elif entry.sha256 is not None and sha != entry.sha256:
                result.problems.append(f"{entry.name} does not match its SHA-256")
            elif entry.crc32c is not None and crc != entry.crc32c:
                result.problems.append(f"{entry.name} does not match its CRC32C")
    result.ok = not result.problems

    record.verified, record.verified_at = result.ok, now
    if not result.ok:
        record.state, record.error = "failed", "; ".join(result.problems)[:1000]
        logger.error("backup %s failed verification: %s", backup_id, record.error)
    save_record(settings, record)
    if record_kpi:
        record_outcome(settings, result.ok, record.kind, now)
    return result


@dataclass
class BackupStatus:
    ok: bool
    newest: str | None
    age_hours: float | None
    problems: list[str] = field(default_factory=list)


def check_backups(settings: Settings, now: datetime, *, verify: bool = True) -> BackupStatus:
    """Return whether a recent, verified backup exists (for daily maintenance and health).

    Verifies the newest successful backup if nothing has yet. A missing or stale backup is
    counted in ``backups_failed`` so the "backup failed" alert fires even when the 02:00
    function never ran at all.
    """
    good = [r for r in list_backups(settings) if r.state == "succeeded"]
    newest = good[0] if good else None
    status = BackupStatus(ok=True, newest=newest.id if newest else None, age_hours=None)
    counted = False  # verify_backup counts its own failure
    if newest is None:
        status.problems.append("there is no successful backup")
    else:
        age = now - (newest.finished_at or newest.started_at)
        status.age_hours = round(age / timedelta(hours=1), 2)
        if age > timedelta(hours=settings.backup.max_age_hours):
            status.problems.append(f"the newest backup {newest.id} is {status.age_hours} h old")
        if verify and newest.verified is None:
            result = verify_backup(settings, newest.id, clock=_Fixed(now))
            status.problems += result.problems
            counted = not result.ok
    status.ok = not status.problems
    if not status.ok and not counted:
        record_outcome(settings, False, settings.backup.kind, now)
    return status


class _Fixed:
    def __init__(self, when: datetime) -> None:
        self.when = when

    def now(self) -> datetime:
        return self.when
