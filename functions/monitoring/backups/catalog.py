"""The backup catalog: one ``fw_backups`` document per backup, and each backup's manifest.

A record's id is also its folder: ``gs://<bucket>/<prefix>/<backup_id>/``. Scheduled
backups are named after their slot, so a second delivery of the same trigger finds the
record already there (``create`` fails) and makes no second backup.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from monitoring.errors import BackupError, NotFound
from monitoring.store import Collections, firestore_client, storage_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = [
    "BackupRecord",
    "FileEntry",
    "Manifest",
    "get_backup",
    "list_backups",
    "load_manifest",
    "manifest_name",
    "save_record",
]

State = Literal["running", "succeeded", "failed", "deleted"]


class FileEntry(BaseModel):
    name: str  # object name, relative to the backup's folder
    collection: str = ""
    documents: int = 0
    bytes: int = 0
    sha256: str | None = None
    crc32c: str | None = None  # managed exports: we do not download them to hash them


class Manifest(BaseModel):
    backup_id: str
    kind: Literal["managed", "logical"]
    read_time: datetime
    collections: list[str]
    files: list[FileEntry]
    documents: int = 0
    bytes: int = 0
    format: str = "ndjson.gz/v1"


class BackupRecord(BaseModel):
    id: str
    kind: Literal["managed", "logical"]
    tags: list[str] = Field(default_factory=list)
    slot: datetime
    state: State = "running"
    started_at: datetime
    finished_at: datetime | None = None
    read_time: datetime | None = None
    documents: int = 0
    bytes: int = 0
    files: int = 0
    error: str | None = None
    verified_at: datetime | None = None
    verified: bool | None = None
    operation: str | None = None  # the managed export's long-running operation name
    deleted_at: datetime | None = None

    def folder(self, settings: Settings) -> str:
        return f"{settings.backup.prefix.strip('/')}/{self.id}/"


def manifest_name(settings: Settings, backup_id: str) -> str:
    return f"{settings.backup.prefix.strip('/')}/{backup_id}/manifest.json"


def save_record(settings: Settings, record: BackupRecord) -> None:
    client = firestore_client(settings)
    client.collection(Collections.BACKUPS).document(record.id).set(record.model_dump())


def _record(data: dict[str, Any] | None) -> BackupRecord | None:
    return BackupRecord.model_validate(data) if data else None


def get_backup(settings: Settings, backup_id: str) -> BackupRecord:
    """Return one backup's record; raise ``NotFound`` if there is none."""
    snapshot = firestore_client(settings).collection(Collections.BACKUPS).document(backup_id).get()
    record = _record(snapshot.to_dict())
    if record is None:
        raise NotFound(f"no backup named {backup_id!r}; `firewatch backup list` shows them")
    return record


def list_backups(settings: Settings, *, include_deleted: bool = False) -> list[BackupRecord]:
    """Return the backup records, newest slot first (deleted ones only when asked)."""
    from google.cloud import firestore

    query = (
        firestore_client(settings)
        .collection(Collections.BACKUPS)
        .order_by("slot", direction=firestore.Query.DESCENDING)
    )
    records = [r for s in query.stream() if (r := _record(s.to_dict())) is not None]
    return [r for r in records if include_deleted or r.state != "deleted"]


def load_manifest(settings: Settings, backup_id: str) -> Manifest:
    """Return a backup's manifest; raise ``NotFound`` if the object is missing and
    ``BackupError`` if it is not a manifest (truncated upload, edited by hand)."""
    blob = (
        storage_client(settings)
        .bucket(settings.backup.bucket)
        .blob(manifest_name(settings, backup_id))
    )
    if not blob.exists():
        raise NotFound(f"backup {backup_id!r} has no manifest in gs://{settings.backup.bucket}")
    try:
        return Manifest.model_validate(json.loads(blob.download_as_bytes()))
    except (ValueError, ValidationError) as error:  # JSONDecodeError and UnicodeError too
        reason = str(error).splitlines()[0][:200]
        raise BackupError(f"backup {backup_id!r} has a corrupt manifest: {reason}") from None
