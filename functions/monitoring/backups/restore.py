"""Per-user restore to a point in time, its undo, erasure records and integrity checks.

Where the data comes from: within ``pitr_window_s`` of now, Firestore itself, read at the
restore point (``read_time``); beyond it, the newest logical backup taken at or before the
restore point. Which documents are a user's comes from ``BackupSettings.user_collections``.

Modes: ``replace`` makes the user's data exactly what it was (documents created since are
deleted); ``merge`` brings back what is missing or changed and keeps documents created since.

Before anything is written, the user's current documents and the plan are saved to
``<prefix>/restores/<restore_id>/``, so ``undo_restore`` can put them back; pruning deletes
that snapshot after ``keep_restore_snapshots_days`` (``prune_restore_snapshots``), and the
restore can no longer be undone. Documents covered by an erasure request newer than the
source are never brought back.
"""

from __future__ import annotations

import gzip
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from monitoring.backups.audit import write_audit
from monitoring.backups.catalog import Manifest, list_backups, load_manifest
from monitoring.backups.codec import content_hash, decode, encode, owner_of, parse_line
from monitoring.backups.logical import iter_documents
from monitoring.backups.settings import UserCollection
from monitoring.clock import Clock, SystemClock, as_utc, floor_minute
from monitoring.errors import BackupError, InputError, NotFound
from monitoring.store import (
    Collections,
    check_document_id,
    check_document_path,
    firestore_client,
    storage_client,
)

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = [
    "Erasure",
    "IntegrityReport",
    "RestoreResult",
    "erased_predicate",
    "prune_restore_snapshots",
    "record_erasure",
    "restore_user_data",
    "undo_restore",
    "verify_data_integrity",
]

logger = logging.getLogger(__name__)

Mode = Literal["replace", "merge"]
ONE_HOUR = timedelta(hours=1)
Docs = dict[str, dict[str, Any]]  # path -> encoded data
Progress = Callable[[int], None]


class Erasure(BaseModel):
    """A user's request to delete data: all of it (``paths`` None) or named documents."""

    id: str
    user_id: str
    erased_at: datetime
    paths: list[str] | None = None
    actor: str = "unknown"
    reason: str = ""


def record_erasure(
    settings: Settings,
    user_id: str,
    *,
    at: datetime,
    paths: list[str] | None = None,
    actor: str = "unknown",
    reason: str = "",
) -> Erasure:
    """Record that ``user_id``'s data (or ``paths``) was deleted at the user's request.

    The caller deletes the data; this record is what stops a restore from bringing it back.
    Raises ``InputError`` for an id or path no document can have (an erasure of nobody).
    """
    check_document_id(user_id, "a user id")
    for path in paths or []:
        check_document_path(path)
    erasure = Erasure(
        id=f"{at:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}",
        user_id=user_id,
        erased_at=at,
        paths=paths,
        actor=actor,
        reason=reason,
    )
    client = firestore_client(settings)
    client.collection(Collections.ERASURES).document(erasure.id).set(erasure.model_dump())
    write_audit(
        settings, actor=actor, action="erasure.record", target=user_id, result="ok", at=at,
        detail={"paths": paths, "reason": reason},
    )  # fmt: skip
    return erasure


def _erasures(settings: Settings, user_id: str | None = None) -> list[Erasure]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query: Any = firestore_client(settings).collection(Collections.ERASURES)
    if user_id is not None:
        query = query.where(filter=FieldFilter("user_id", "==", user_id))
    return [Erasure.model_validate(s.to_dict()) for s in query.stream()]


def _is_erased(erasures: list[Erasure], path: str, source_time: datetime) -> bool:
    # An erasure older than the source is already reflected in it; anything the source
    # holds for that path was written after the request and is the user's again.
    return any(e.erased_at > source_time and (e.paths is None or path in e.paths) for e in erasures)


def erased_predicate(
    settings: Settings, source_time: datetime
) -> Callable[[str, dict[str, Any]], bool]:
    """Return a test "is this backed-up document erased?" for whole-database restores."""
    by_user: dict[str, list[Erasure]] = {}
    for erasure in _erasures(settings):
        by_user.setdefault(erasure.user_id, []).append(erasure)

    def erased(path: str, data: dict[str, Any]) -> bool:
        found = owner_of(settings.backup, path, data)
        return found is not None and _is_erased(by_user.get(found[0], []), path, source_time)

    return erased


# Reading a user's documents ---------------------------------------------------------------


def _rule_docs(
    settings: Settings, rule: UserCollection, user_id: str, read_time: datetime | None
) -> Iterator[Any]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    client = firestore_client(settings)
    if rule.id_is_uid and not rule.by_path:
        snapshot = client.collection(rule.path).document(user_id).get(read_time=read_time)
        if snapshot.exists:
            yield snapshot
        return
    collection = client.collection(rule.resolved(user_id))
    if rule.by_path:
        yield from collection.stream(read_time=read_time)
    elif rule.owner_field is not None:
        yield from collection.where(filter=FieldFilter(rule.owner_field, "==", user_id)).stream(
            read_time=read_time
        )


def _live_docs(settings: Settings, user_id: str, read_time: datetime | None = None) -> Docs:
    docs: Docs = {}
    for rule in settings.backup.user_collections:
        for snapshot in _rule_docs(settings, rule, user_id, read_time):
            docs[snapshot.reference.path] = encode(snapshot.to_dict() or {})
    return docs


def _backup_docs(settings: Settings, manifest: Manifest, user_id: str) -> Docs:
    wanted = {rule.top_level for rule in settings.backup.user_collections}
    docs: Docs = {}
    for path, data in iter_documents(settings, manifest, wanted):
        found = owner_of(settings.backup, path, data)
        if found is not None and found[0] == user_id:
            docs[path] = data
    return docs


@dataclass
class Source:
    kind: Literal["read_time", "backup"]
    time: datetime  # the moment the source's data is from
    backup_id: str | None = None

    def describe(self) -> str:
        if self.kind == "backup":
            return f"backup {self.backup_id} ({self.time.isoformat()})"
        return f"read_time {self.time.isoformat()}"


def choose_source(settings: Settings, restore_point: datetime, now: datetime) -> Source:
    """Return where the data of ``restore_point`` comes from (see the module docstring)."""
    if restore_point > now:
        raise InputError("the restore point is in the future")
    age = now - restore_point
    if age <= timedelta(seconds=settings.backup.pitr_window_s):
        # Firestore serves any microsecond within the last hour, but only whole minutes
        # further back (with PITR enabled): read as of the start of that minute.
        return Source(
            "read_time", restore_point if age <= ONE_HOUR else floor_minute(restore_point)
        )
    for record in list_backups(settings):
        if (
            record.kind == "logical"
            and record.state == "succeeded"
            and record.read_time is not None
            and record.read_time <= restore_point
        ):
            return Source("backup", record.read_time, record.id)
    raise BackupError(
        f"no logical backup was taken at or before {restore_point.isoformat()} and it is "
        "outside the point-in-time window"
    )


def _source_docs(settings: Settings, source: Source, user_id: str) -> Docs:
    if source.kind == "read_time":
        return _live_docs(settings, user_id, read_time=source.time)
    assert source.backup_id is not None
    return _backup_docs(settings, load_manifest(settings, source.backup_id), user_id)


# Restore ------------------------------------------------------------------------------------


@dataclass
class RestoreResult:
    restore_id: str
    user_id: str
    mode: Mode
    source: str
    restore_point: datetime
    dry_run: bool
    creates: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    skipped_erased: list[str] = field(default_factory=list)
    unchanged: int = 0
    writes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class RestoreRecord(BaseModel):
    id: str
    user_id: str
    actor: str
    at: datetime
    mode: Mode
    source: str
    restore_point: datetime
    state: Literal["applied", "failed", "undone"] = "applied"
    writes: int = 0
    expected: dict[str, dict[str, Any]] = Field(default_factory=dict)
    undone_at: datetime | None = None
    snapshot_pruned_at: datetime | None = None


def _restores_folder(settings: Settings, restore_id: str) -> str:
    return f"{settings.backup.prefix.strip('/')}/restores/{restore_id}/"


def _save_before(settings: Settings, restore_id: str, before: Docs, plan: dict[str, Any]) -> None:
    bucket = storage_client(settings).bucket(settings.backup.bucket)
    folder = _restores_folder(settings, restore_id)
    lines = b"".join(
        json.dumps({"p": p, "d": d}, sort_keys=True).encode() + b"\n" for p, d in before.items()
    )
    bucket.blob(folder + "before.ndjson.gz").upload_from_string(
        gzip.compress(lines, mtime=0), content_type="application/gzip"
    )
    bucket.blob(folder + "plan.json").upload_from_string(
        json.dumps(plan), content_type="application/json"
    )


def _load_before(settings: Settings, restore_id: str) -> tuple[Docs, dict[str, Any]]:
    bucket = storage_client(settings).bucket(settings.backup.bucket)
    folder = _restores_folder(settings, restore_id)
    raw = gzip.decompress(bucket.blob(folder + "before.ndjson.gz").download_as_bytes())
    before = dict(parse_line(line) for line in raw.splitlines() if line)
    return before, json.loads(bucket.blob(folder + "plan.json").download_as_bytes())


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    # As JSON, not with ==: Python has 1 == 1.0 == True and 0.0 == -0.0, but Firestore keeps
    # integer, double and boolean apart, so a field whose type changed must be rewritten.
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _write(settings: Settings, sets: Docs, deletes: list[str]) -> int:
    client = firestore_client(settings)
    batch, pending, written = client.batch(), 0, 0
    operations: list[tuple[str, dict[str, Any] | None]] = [
        *sets.items(),
        *((path, None) for path in deletes),
    ]
    for path, data in operations:
        if data is None:
            batch.delete(client.document(path))
        else:
            batch.set(client.document(path), decode(data, client))
        pending += 1
        if pending >= settings.backup.write_batch:
            batch.commit()
            written, batch, pending = written + pending, client.batch(), 0
    if pending:
        batch.commit()
        written += pending
    return written


def _summaries(settings: Settings, docs: Docs) -> dict[str, dict[str, Any]]:
    """Return {collection rule: {count, sha256}} for a user's documents."""
    grouped: dict[str, list[tuple[str, dict[str, Any]]]] = {
        rule.path: [] for rule in settings.backup.user_collections
    }
    for path, data in docs.items():
        found = owner_of(settings.backup, path, data)
        if found is not None:
            grouped[found[1].path].append((path, data))
    return {
        name: {"count": len(items), "sha256": content_hash(items)}
        for name, items in grouped.items()
    }


def restore_user_data(
    settings: Settings,
    user_id: str,
    restore_point: datetime,
    mode: Mode = "replace",
    dry_run: bool = False,
    actor: str = "unknown",
    *,
    clock: Clock | None = None,
) -> RestoreResult:
    """Restore one user's documents to ``restore_point``; return what was (or would be) done.

    Steps: 1. choose the source; 2. read the target state, dropping erased documents;
    3. read the current state; 4. plan creates, changes and deletes (deletes only in
    replace mode); 5. save the current documents for undo; 6. write; 7. record and audit.
    Raises ``BackupError`` if the user asked for the whole account to be erased after the
    source was taken, or if no source covers the restore point.
    """
    if mode not in ("replace", "merge"):
        raise InputError(f"mode must be replace or merge, not {mode!r}")
    now = (clock or SystemClock()).now()
    restore_point = as_utc(restore_point)
    restore_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    action = "restore.user.dry-run" if dry_run else "restore.user"

    saved = False
    try:
        source = choose_source(settings, restore_point, now)
        erasures = _erasures(settings, user_id)
        if any(e.paths is None and e.erased_at > source.time for e in erasures):
            raise BackupError(
                f"user {user_id} asked for their account to be erased after "
                f"{source.time.isoformat()}; nothing was restored"
            )
        target = _source_docs(settings, source, user_id)
        current = _live_docs(settings, user_id)

        result = RestoreResult(restore_id, user_id, mode, source.describe(), restore_point, dry_run)
        for path in sorted(target):
            if _is_erased(erasures, path, source.time):
                result.skipped_erased.append(path)
                del target[path]
        for path, data in sorted(target.items()):
            if path not in current:
                result.creates.append(path)
            elif not _same(current[path], data):
                result.changes.append(path)
            else:
                result.unchanged += 1
        if mode == "replace":
            result.deletes = sorted(p for p in current if p not in target)

        if dry_run:
            write_audit(
                settings, actor=actor, action=action, target=user_id, result="dry-run", at=now,
                detail=_audit_detail(result),
            )  # fmt: skip
            return result

        final = {**current, **target} if mode == "merge" else dict(target)
        plan = {"creates": result.creates, "changes": result.changes, "deletes": result.deletes}
        _save_before(settings, restore_id, current, plan)
        saved = True
        sets = {p: target[p] for p in result.creates + result.changes}
        result.writes = _write(settings, sets, result.deletes)
    except Exception as error:
        write_audit(
            settings, actor=actor, action=action, target=user_id, result="failed", at=now,
            detail={"restore_point": restore_point, "mode": mode, "error": str(error)[:500],
                    "restore_id": restore_id if saved else None},
        )  # fmt: skip
        if not saved:
            raise
        # Some batches may have been written: keep a record so `restore undo` finds the saved
        # "before" snapshot and can put the user's documents back.
        failed = RestoreRecord(
            id=restore_id, user_id=user_id, actor=actor, at=now, mode=mode,
            source=result.source, restore_point=restore_point, state="failed",
        )  # fmt: skip
        firestore_client(settings).collection(Collections.RESTORES).document(restore_id).set(
            failed.model_dump()
        )
        raise BackupError(
            f"restore {restore_id} of user {user_id} failed part-way ({error}); "
            f"`firewatch restore undo {restore_id}` puts back what it changed"
        ) from error

    record = RestoreRecord(
        id=restore_id, user_id=user_id, actor=actor, at=now, mode=mode, source=result.source,
        restore_point=restore_point, writes=result.writes, expected=_summaries(settings, final),
    )  # fmt: skip
    firestore_client(settings).collection(Collections.RESTORES).document(restore_id).set(
        record.model_dump()
    )
    write_audit(
        settings, actor=actor, action=action, target=user_id, result="ok", at=now,
        detail=_audit_detail(result),
    )  # fmt: skip
    logger.info(
        "restored user %s to %s: %d writes", user_id, restore_point.isoformat(), result.writes
    )
    return result


def _audit_detail(result: RestoreResult) -> dict[str, Any]:
    return {
        "restore_id": result.restore_id,
        "restore_point": result.restore_point,
        "mode": result.mode,
        "source": result.source,
        "creates": len(result.creates),
        "changes": len(result.changes),
        "deletes": len(result.deletes),
        "skipped_erased": len(result.skipped_erased),
        "writes": result.writes,
    }


def undo_restore(
    settings: Settings, restore_id: str, *, actor: str = "unknown", clock: Clock | None = None
) -> int:
    """Put back what a restore changed (documents it created are deleted); return writes.

    Only the documents the restore touched are written, so later unrelated changes to the
    user's other documents survive. Raises ``NotFound`` for an unknown restore and
    ``BackupError`` for one already undone.
    """
    now = (clock or SystemClock()).now()
    doc = firestore_client(settings).collection(Collections.RESTORES).document(restore_id)
    data = doc.get().to_dict()
    if data is None:
        raise NotFound(f"no restore named {restore_id!r}")
    record = RestoreRecord.model_validate(data)
    if record.state == "undone":
        raise BackupError(f"restore {restore_id} was already undone at {record.undone_at}")
    if record.snapshot_pruned_at is not None:
        raise BackupError(
            f"restore {restore_id} can no longer be undone: its saved snapshot was pruned at "
            f"{record.snapshot_pruned_at:%Y-%m-%d %H:%M} UTC "
            "(FIREWATCH_BACKUP__KEEP_RESTORE_SNAPSHOTS_DAYS)"
        )

    try:
        before, plan = _load_before(settings, restore_id)
        sets = {p: before[p] for p in plan["changes"] + plan["deletes"] if p in before}
        erasures = _erasures(settings, record.user_id)
        # A document erased since the restore stays erased even if undo would revive it.
        sets = {p: d for p, d in sets.items() if not _is_erased(erasures, p, record.at)}
        writes = _write(settings, sets, list(plan["creates"]))
    except Exception as error:
        write_audit(
            settings, actor=actor, action="restore.undo", target=record.user_id,
            result="failed", at=now, detail={"restore_id": restore_id, "error": str(error)[:500]},
        )  # fmt: skip
        raise
    doc.update({"state": "undone", "undone_at": now})
    write_audit(
        settings, actor=actor, action="restore.undo", target=record.user_id, result="ok",
        at=now, detail={"restore_id": restore_id, "writes": writes},
    )  # fmt: skip
    return writes


def prune_restore_snapshots(
    settings: Settings, now: datetime, *, dry_run: bool = False
) -> list[str]:
    """Delete the "before" snapshots of restores older than the undo window; return their ids.

    The restore's record stays (it is history) and says when its snapshot went, so a later
    ``undo_restore`` explains why it cannot run. Only ``<prefix>/restores/<id>/`` of a
    recorded restore is touched.
    """
    from google.cloud.firestore_v1.base_query import FieldFilter

    cutoff = now - timedelta(days=settings.backup.keep_restore_snapshots_days)
    records = firestore_client(settings).collection(Collections.RESTORES)
    query = records.where(filter=FieldFilter("at", "<", cutoff))
    due = [
        record
        for record in (RestoreRecord.model_validate(s.to_dict()) for s in query.stream())
        if record.snapshot_pruned_at is None
    ]
    if dry_run:
        return sorted(r.id for r in due)

    bucket = storage_client(settings).bucket(settings.backup.bucket)
    for record in due:
        folder = _restores_folder(settings, record.id)
        for blob in bucket.list_blobs(prefix=folder):
            blob.delete()
        # Mark after the delete: a crash in between leaves the record due, and the next
        # prune finds an empty folder and marks it then.
        records.document(record.id).update({"snapshot_pruned_at": now})
        logger.info("pruned the undo snapshot of restore %s", record.id)
    return sorted(r.id for r in due)


# Integrity ----------------------------------------------------------------------------------


@dataclass
class IntegrityReport:
    user_id: str
    source: str | None
    collections: dict[str, dict[str, Any]] = field(default_factory=dict)
    mismatched: list[str] = field(default_factory=list)
    dangling: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatched and not self.dangling

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


def _dangling(settings: Settings, user_id: str, docs: Docs) -> list[str]:
    rules = {rule.path: rule for rule in settings.backup.user_collections}
    problems = []
    for path, data in sorted(docs.items()):
        found = owner_of(settings.backup, path, data)
        if found is None:
            continue
        for ref in settings.backup.references:
            target = rules.get(ref.target)
            value = data.get(ref.field)
            if ref.collection != found[1].path or target is None or not isinstance(value, str):
                continue
            if f"{target.resolved(user_id)}/{value}" not in docs:
                problems.append(f"{path}: {ref.field} {value!r} names no document in {ref.target}")
    return problems


def verify_data_integrity(
    settings: Settings,
    user_id: str,
    *,
    restore_point: datetime | None = None,
    clock: Clock | None = None,
) -> IntegrityReport:
    """Compare a user's documents with their source and report dangling references.

    The source is ``restore_point`` (read as a restore would read it) or, without one, what
    the user's latest restore wrote. With neither, only references are checked.
    """
    current = _live_docs(settings, user_id)
    report = IntegrityReport(user_id, source=None)
    expected: dict[str, dict[str, Any]] | None = None

    if restore_point is not None:
        now = (clock or SystemClock()).now()
        source = choose_source(settings, as_utc(restore_point), now)
        erasures = _erasures(settings, user_id)
        docs = {
            p: d
            for p, d in _source_docs(settings, source, user_id).items()
            if not _is_erased(erasures, p, source.time)
        }
        expected, report.source = _summaries(settings, docs), source.describe()
    else:
        latest = _latest_restore(settings, user_id)
        if latest is not None:
            expected, report.source = latest.expected, f"restore {latest.id}"

    actual = _summaries(settings, current)
    for name, summary in actual.items():
        report.collections[name] = {"count": summary["count"], "sha256": summary["sha256"]}
        if expected is not None:
            want = expected.get(name, {"count": 0, "sha256": content_hash([])})
            report.collections[name]["expected_count"] = want["count"]
            if want != summary:
                report.mismatched.append(name)
    report.dangling = _dangling(settings, user_id, current)
    return report


def _latest_restore(settings: Settings, user_id: str) -> RestoreRecord | None:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = (
        firestore_client(settings)
        .collection(Collections.RESTORES)
        .where(filter=FieldFilter("user_id", "==", user_id))
    )
    records = [RestoreRecord.model_validate(s.to_dict()) for s in query.stream()]
    applied = [r for r in records if r.state == "applied"]
    return max(applied, key=lambda r: r.at) if applied else None
