"""The hourly ``compact_kpis`` job: retention by compaction, and the optional export.

Minute rollups older than ``kpi.minute_retention_days`` are deleted, and hourly rollups
older than ``kpi.hourly_retention_days`` fold into daily ones. The recorder merges every
minute into its hour document when it writes it (``in_hour``), so such a minute is only
deleted, never added again; a minute written before hours existed (no ``in_hour``) is
folded into its hour first. Each step reads the sources and the target inside one
transaction, merges what needs merging (sketches included), marks the hour as having lost
its minutes (``has_minutes`` false, which queries read) and deletes the sources in the same
commit, so totals stay identical, a crash leaves either the old or the new documents, and a
second run finds nothing left to do. Distinct-id sets of days past
the hourly retention are reduced to their count.

Hours written before this change. Minutes stored by an older Firewatch have no hour
document, and queries read hours for whole hours. The first runs after the upgrade
therefore backfill: they walk the retained minutes (from the retention cutoff to the first
run's time, ``fw_kpi_state/hourly_backfill`` keeps the cursor), fold each minute without
``in_hour`` into its hour and mark it, in one transaction; once the cursor passes the first
run, each later run costs one read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitoring.clock import as_utc
from monitoring.kpi.rollup import Resolution, Rollup, doc_id, label_key
from monitoring.store import Collections

if TYPE_CHECKING:
    from google.cloud import firestore

    from monitoring.config import Settings

__all__ = ["CompactionResult", "compact", "run_compaction"]

logger = logging.getLogger(__name__)

# A transaction may write 500 documents; a group is at most 61 (60 minutes + the hour).
_WRITES_PER_TRANSACTION = 400
_PAGE = 1000


@dataclass
class CompactionResult:
    minutes_folded: int = 0  # minute documents compacted away (all were in an hour after)
    minutes_merged: int = 0  # of those, written before hours existed and merged just now
    minutes_backfilled: int = 0  # retained minutes from before hours existed, now in one
    hours_written: int = 0
    hours_folded: int = 0
    days_written: int = 0
    distinct_days_reduced: int = 0
    exported_series: int = 0


def run_compaction(
    settings: Settings, now: datetime, *, client: firestore.Client | None = None
) -> CompactionResult:
    """Compact what retention allows as of ``now``; export new minutes if enabled."""
    from monitoring.store import firestore_client

    now = as_utc(now)
    db = client or firestore_client(settings)
    hour = now.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    budget = settings.kpi.compaction_max_docs
    result = CompactionResult()

    result.minutes_folded, result.hours_written, result.minutes_merged = compact(
        db, "minute", "hour", hour - timedelta(days=settings.kpi.minute_retention_days), budget, now
    )
    result.minutes_backfilled = _backfill_hours(
        db,
        hour - timedelta(days=settings.kpi.minute_retention_days),
        budget - result.minutes_folded,
        now,
    )
    result.hours_folded, result.days_written, _ = compact(
        db,
        "hour",
        "day",
        day - timedelta(days=settings.kpi.hourly_retention_days),
        budget - result.minutes_folded,
        now,
    )
    result.distinct_days_reduced = _reduce_distinct(
        db, day - timedelta(days=settings.kpi.hourly_retention_days), now
    )
    if settings.kpi.export_enabled:
        from monitoring.kpi.export import export_pending

        try:
            result.exported_series = export_pending(settings, now, client=db)
        except Exception:
            # The export is optional: a Cloud Monitoring outage must not stop retention.
            logger.error("KPI export to Cloud Monitoring failed", exc_info=True)
    logger.info(
        "compacted %d minute and %d hourly rollups",
        result.minutes_folded,
        result.hours_folded,
        extra={"hours_written": result.hours_written, "days_written": result.days_written},
    )
    return result


def _floor(when: datetime, res: Resolution) -> datetime:
    if res == "hour":
        return when.replace(minute=0, second=0, microsecond=0)
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


def compact(
    db: firestore.Client,
    source: Resolution,
    target: Resolution,
    cutoff: datetime,
    budget: int,
    now: datetime,
) -> tuple[int, int, int]:
    """Fold ``source`` rollups starting before ``cutoff`` into ``target`` ones.

    Returns (source documents folded, target documents written, sources merged; minutes
    already in their hour are deleted without merging). Stops after ``budget`` source
    documents; the next run continues where this one stopped.
    """
    from google.cloud.firestore_v1.base_query import FieldFilter

    collection = db.collection(Collections.ROLLUPS)
    folded = written = merged = 0
    while folded < budget:
        query = (
            collection.where(filter=FieldFilter("res", "==", source))
            .where(filter=FieldFilter("start", "<", cutoff))
            .order_by("start")
            .limit(min(_PAGE, budget - folded))
        )
        groups: dict[str, list[Any]] = {}
        for snap in query.stream():
            data = snap.to_dict() or {}
            start = _floor(as_utc(data["start"]), target)
            target_id = doc_id(target, data["metric"], label_key(data.get("labels")), start)
            groups.setdefault(target_id, []).append(snap.reference)
        if not groups:
            break
        bundle: dict[str, list[Any]] = {}
        size = 0
        for target_id, refs in groups.items():
            if size + len(refs) + 1 > _WRITES_PER_TRANSACTION and bundle:
                done, added = _fold(db, bundle, target, now)
                folded, written, merged = folded + done, written + len(bundle), merged + added
                bundle, size = {}, 0
            bundle[target_id] = refs
            size += len(refs) + 1
        if bundle:
            done, added = _fold(db, bundle, target, now)
            folded, written, merged = folded + done, written + len(bundle), merged + added
    return folded, written, merged


def _fold(
    db: firestore.Client,
    groups: dict[str, list[Any]],
    target: Resolution,
    now: datetime,
    *,
    keep_sources: bool = False,
) -> tuple[int, int]:
    """Merge each group's sources into its target and delete them, in one transaction.

    A minute already in its hour (``in_hour``) is deleted without merging: its hour has it,
    or, if the hour is gone, the day the hour was folded into. Returns (sources deleted,
    sources merged). With ``keep_sources`` (the backfill) minutes are marked ``in_hour``
    instead of deleted, and the hour keeps saying its minutes are stored.
    """
    from google.cloud import firestore

    collection = db.collection(Collections.ROLLUPS)
    sources = [ref for refs in groups.values() for ref in refs]
    targets = [collection.document(target_id) for target_id in groups]
    folded = merged_count = 0

    @firestore.transactional
    def apply(transaction: firestore.Transaction) -> None:
        nonlocal folded, merged_count
        snaps = {s.id: s for s in transaction.get_all(sources + targets)}
        folded = merged_count = 0
        for ref, (target_id, refs) in zip(targets, groups.items(), strict=True):
            existing = snaps.get(target_id)
            merged: Rollup | None = (
                Rollup.from_doc(existing.to_dict() or {})
                if existing is not None and existing.exists
                else None
            )
            for source_ref in refs:
                snap = snaps.get(source_ref.id)
                if snap is None or not snap.exists:
                    continue  # another run folded it already
                rollup = Rollup.from_doc(snap.to_dict() or {})
                if rollup.res == "minute" and rollup.in_hour:
                    if not keep_sources:
                        transaction.delete(source_ref)
                        folded += 1
                    continue
                if merged is None:
                    merged = rollup.empty_like(target, _floor(rollup.start, target))
                    merged.has_minutes = keep_sources
                merged.merge(rollup)
                merged_count += 1
                if keep_sources:
                    transaction.update(source_ref, {"in_hour": True})
                else:
                    transaction.delete(source_ref)
                    folded += 1
            if merged is not None:
                if not keep_sources:
                    # Its minutes are (being) deleted: queries read this hour at the edges.
                    merged.has_minutes = False
                transaction.set(ref, merged.to_doc(now))

    apply(db.transaction(max_attempts=5))
    return folded, merged_count


_BACKFILL_DOC = "hourly_backfill"


def _backfill_hours(db: firestore.Client, cutoff: datetime, budget: int, now: datetime) -> int:
    """Fold retained minutes that predate hour documents into their hours (kept, marked).

    Returns the minutes folded. Resumes from the stored cursor; idempotent, since a marked
    minute is never folded again.
    """
    from google.cloud.firestore_v1.base_query import FieldFilter

    state_ref = db.collection(Collections.KPI_STATE).document(_BACKFILL_DOC)
    state = state_ref.get().to_dict() or {}
    if state.get("done"):
        return 0
    # Minutes newer than the first run were written with their hours already.
    until = as_utc(state["until"]) if "until" in state else now
    cursor = max(as_utc(state["cursor"]), cutoff) if "cursor" in state else cutoff
    collection = db.collection(Collections.ROLLUPS)
    backfilled = 0
    last: Any = None
    while budget > 0:
        limit = min(_PAGE, budget)
        query = (
            collection.where(filter=FieldFilter("res", "==", "minute"))
            .where(filter=FieldFilter("start", ">=", cursor))
            .where(filter=FieldFilter("start", "<", until))
            .order_by("start")
        )
        if last is not None:
            query = query.start_after(last)
        snaps = list(query.limit(limit).stream())
        budget -= len(snaps)
        groups: dict[str, list[Any]] = {}
        for snap in snaps:
            data = snap.to_dict() or {}
            if data.get("in_hour"):
                continue
            start = _floor(as_utc(data["start"]), "hour")
            hour_id = doc_id("hour", data["metric"], label_key(data.get("labels")), start)
            groups.setdefault(hour_id, []).append(snap.reference)
        bundle: dict[str, list[Any]] = {}
        size = 0
        for hour_id, refs in groups.items():
            if size + len(refs) + 1 > _WRITES_PER_TRANSACTION and bundle:
                backfilled += _fold(db, bundle, "hour", now, keep_sources=True)[1]
                bundle, size = {}, 0
            bundle[hour_id] = refs
            size += len(refs) + 1
        if bundle:
            backfilled += _fold(db, bundle, "hour", now, keep_sources=True)[1]
        if len(snaps) < limit:  # walked to ``until``
            state_ref.set({"until": until, "cursor": until, "done": True, "at": now})
            return backfilled
        # The next run resumes at this minute: what it re-reads is marked, never re-folded.
        last = snaps[-1]
        state_ref.set(
            {"until": until, "cursor": (last.to_dict() or {})["start"], "done": False, "at": now}
        )
    return backfilled


def _reduce_distinct(db: firestore.Client, cutoff: datetime, now: datetime) -> int:
    """Replace the id sets of days before ``cutoff`` with their count."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    reduced = 0
    day = cutoff.strftime("%Y%m%d")
    query = db.collection(Collections.DISTINCT).where(filter=FieldFilter("day", "<", day))
    for parent in query.stream():
        data = parent.to_dict() or {}
        ids = list(parent.reference.collection("ids").list_documents())
        if not ids:
            continue
        # The count goes first and is written once: a run that crashes while deleting
        # leaves ids behind, which the next run deletes without counting them again.
        if "reduced_at" not in data:
            parent.reference.set({"count": len(ids), "reduced_at": now}, merge=True)
        batch, pending = db.batch(), 0
        for ref in ids:
            batch.delete(ref)
            pending += 1
            if pending == 400:
                batch.commit()
                batch, pending = db.batch(), 0
        if pending:
            batch.commit()
        reduced += 1
    return reduced
