"""Managed backups: Firestore's own export (``firestore_admin_v1``) into the backup's folder.

The export runs as a long-running operation; we follow it to the end, keep its name on the
record (so an operator can look it up with ``gcloud firestore operations describe``) and then
write a manifest of the objects it produced, with the sizes and CRC32C checksums Cloud
Storage already computed (hashing them ourselves would mean downloading the whole export).

There is no emulator for the Admin API: tests drive this module through a stand-in client
with the same ``export_documents``/``import_documents`` shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitoring.backups.catalog import FileEntry, Manifest, manifest_name
from monitoring.errors import BackupError
from monitoring.store import storage_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["admin_client", "export_managed", "import_managed"]

logger = logging.getLogger(__name__)


def admin_client() -> Any:
    """Return a ``FirestoreAdminClient`` (imported here: it costs ~160 ms of cold start)."""
    from google.cloud import firestore_admin_v1

    return firestore_admin_v1.FirestoreAdminClient()


def _folder_uri(settings: Settings, backup_id: str) -> str:
    return f"gs://{settings.backup.bucket}/{settings.backup.prefix.strip('/')}/{backup_id}"


def export_managed(
    settings: Settings,
    backup_id: str,
    *,
    snapshot_time: datetime,
    client: Any = None,
    on_operation: Callable[[str], None] | None = None,
) -> Manifest:
    """Run a managed export into the backup's folder and return the manifest written for it.

    ``on_operation`` receives the operation name as soon as it exists, so the record names
    the export even if this function is killed while waiting. Raises ``BackupError`` when
    the operation fails or does not finish within ``managed_timeout_s``.
    """
    client = client if client is not None else admin_client()
    request: dict[str, Any] = {
        "name": f"projects/{settings.project_id}/databases/{settings.backup.database}",
        "output_uri_prefix": _folder_uri(settings, backup_id),
        "collection_ids": list(settings.backup.collections),
    }
    # The Admin API takes whole minutes; without a snapshot time an export is not one
    # consistent point in time.
    snapshot_time = snapshot_time.replace(second=0, microsecond=0)
    request["snapshot_time"] = snapshot_time
    operation = client.export_documents(request=request)
    name = str(operation.operation.name)
    if on_operation is not None:
        on_operation(name)

    try:
        operation.result(timeout=settings.backup.managed_timeout_s)
    except Exception as error:  # the API raises GoogleAPICallError or TimeoutError
        raise BackupError(f"managed export {name} did not complete: {error}") from error
    progress = getattr(operation.metadata, "progress_documents", None)
    documents = int(getattr(progress, "completed_work", 0) or 0)

    bucket = storage_client(settings).bucket(settings.backup.bucket)
    folder = f"{settings.backup.prefix.strip('/')}/{backup_id}/"
    files = [
        FileEntry(name=blob.name[len(folder) :], bytes=int(blob.size or 0), crc32c=blob.crc32c)
        for blob in bucket.list_blobs(prefix=folder)
        if not blob.name.endswith("manifest.json")
    ]
    if not files:
        raise BackupError(f"managed export {name} finished but wrote nothing under {folder}")
    manifest = Manifest(
        backup_id=backup_id,
        kind="managed",
        read_time=snapshot_time,
        collections=list(settings.backup.collections),
        files=files,
        documents=documents,
        bytes=sum(f.bytes for f in files),
        format="firestore-export",
    )
    bucket.blob(manifest_name(settings, backup_id)).upload_from_string(
        manifest.model_dump_json(indent=2), content_type="application/json"
    )
    logger.info("managed export %s finished: %d files", name, len(files))
    return manifest


def import_managed(
    settings: Settings, backup_id: str, *, client: Any = None, dry_run: bool = False
) -> str:
    """Import a managed export back into the database; return the operation name.

    Firestore's import overwrites documents with the same path and leaves the rest.
    """
    client = client if client is not None else admin_client()
    request = {
        "name": f"projects/{settings.project_id}/databases/{settings.backup.database}",
        "input_uri_prefix": _folder_uri(settings, backup_id),
        "collection_ids": list(settings.backup.collections),
    }
    if dry_run:
        return f"(dry run) import from {request['input_uri_prefix']}"
    operation = client.import_documents(request=request)
    try:
        operation.result(timeout=settings.backup.managed_timeout_s)
    except Exception as error:
        raise BackupError(f"managed import {operation.operation.name} failed: {error}") from error
    return str(operation.operation.name)
