"""Logical backups: every collection, subcollections included, as gzip NDJSON in Storage.

All reads use one ``read_time``, so the files are one consistent snapshot even while the app
keeps writing. Documents are read a page at a time and written through a resumable upload in
chunks, so memory does not grow with the size of the database.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitoring.backups.catalog import FileEntry, Manifest, manifest_name
from monitoring.backups.codec import decode, document_line, parse_line
from monitoring.errors import BackupError
from monitoring.store import firestore_client, storage_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["RestoreAllResult", "export_logical", "iter_documents", "restore_all_logical"]

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]


class _HashingWriter:
    """Pass bytes through to the upload, counting them and hashing them on the way."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.bytes += len(data)
        self.inner.write(data)
        return len(data)

    def flush(self) -> None:
        """Do nothing: the upload sends whole chunks on its own."""


def _iter_collection(
    settings: Settings, name: str, read_time: datetime
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (path, data) for every document in ``name`` and below it, a page at a time."""
    client = firestore_client(settings)
    query = client.collection(name).recursive().limit(settings.backup.page_size)
    last = None
    while True:
        page = query.start_after(last) if last is not None else query
        count = 0
        for snapshot in page.stream(read_time=read_time):
            last, count = snapshot, count + 1
            if snapshot.exists:
                yield snapshot.reference.path, snapshot.to_dict() or {}
        if count < settings.backup.page_size:
            return


def export_logical(
    settings: Settings, backup_id: str, *, read_time: datetime, progress: Progress | None = None
) -> Manifest:
    """Write every collection at ``read_time`` under the backup's folder; return its manifest.

    The manifest is written last, so a backup without one is incomplete by definition.
    """
    client = firestore_client(settings)
    bucket = storage_client(settings).bucket(settings.backup.bucket)
    names = settings.backup.collections or sorted(
        ref.id
        for ref in client.collections(read_time=read_time)
        if ref.id not in settings.backup.exclude
    )

    folder = f"{settings.backup.prefix.strip('/')}/{backup_id}/"
    files: list[FileEntry] = []
    for name in names:
        object_name = f"{name}.ndjson.gz"
        blob = bucket.blob(folder + object_name)
        count = 0
        with blob.open(
            "wb", chunk_size=settings.backup.upload_chunk_bytes, content_type="application/gzip"
        ) as upload:
            sink = _HashingWriter(upload)
            with gzip.GzipFile(fileobj=sink, mode="wb", mtime=0) as compressed:
                for path, data in _iter_collection(settings, name, read_time):
                    compressed.write(document_line(path, data))
                    count += 1
                    if progress is not None:
                        progress(1)
        files.append(
            FileEntry(
                name=object_name,
                collection=name,
                documents=count,
                bytes=sink.bytes,
                sha256=sink.sha256.hexdigest(),
            )
        )

    manifest = Manifest(
        backup_id=backup_id,
        kind="logical",
        read_time=read_time,
        collections=names,
        files=files,
        documents=sum(f.documents for f in files),
        bytes=sum(f.bytes for f in files),
    )
    bucket.blob(manifest_name(settings, backup_id)).upload_from_string(
        manifest.model_dump_json(indent=2), content_type="application/json"
    )
    logger.info("logical backup %s: %d documents", backup_id, manifest.documents)
    return manifest


def iter_documents(
    settings: Settings, manifest: Manifest, collections: set[str] | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (path, encoded data) from a logical backup's files, streaming each one."""
    if manifest.kind != "logical":
        raise BackupError(f"backup {manifest.backup_id!r} is a managed export, not logical")
    bucket = storage_client(settings).bucket(settings.backup.bucket)
    folder = f"{settings.backup.prefix.strip('/')}/{manifest.backup_id}/"
    for entry in manifest.files:
        if collections is not None and entry.collection not in collections:
            continue
        blob = bucket.blob(folder + entry.name)
        with (
            blob.open("rb", chunk_size=settings.backup.upload_chunk_bytes) as raw,
            gzip.GzipFile(fileobj=raw, mode="rb") as lines,
        ):
            for line in lines:
                yield parse_line(line)


@dataclass
class RestoreAllResult:
    backup_id: str
    documents: int = 0
    skipped_erased: int = 0
    writes: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def restore_all_logical(
    settings: Settings,
    manifest: Manifest,
    erased: Callable[[str, dict[str, Any]], bool],
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> RestoreAllResult:
    """Write every document of a logical backup back, skipping erased users' data.

    Like Firestore's managed import, documents with the same path are overwritten and other
    documents are left alone.
    """
    client = firestore_client(settings)
    result = RestoreAllResult(manifest.backup_id, dry_run=dry_run)
    batch, pending = client.batch(), 0
    for path, data in iter_documents(settings, manifest):
        if progress is not None:
            progress(1)
        if erased(path, data):
            result.skipped_erased += 1
            continue
        result.documents += 1
        if dry_run:
            continue
        batch.set(client.document(path), decode(data, client))
        pending += 1
        if pending >= settings.backup.write_batch:
            batch.commit()
            result.writes += pending
            batch, pending = client.batch(), 0
    if pending:
        batch.commit()
        result.writes += pending
    return result
