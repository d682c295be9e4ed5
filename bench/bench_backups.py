"""Backup and restore throughput on the emulators.

1. Logical export of 2,000, 10,000 and 100,000 small documents: documents per second and peak
   Python memory (tracemalloc). The aim is flat memory: the peak must not grow with the
   count, because documents are streamed a page at a time and uploaded in chunks.
2. Whole-database restore from that backup: documents per second and peak memory.
3. Per-user restore of 1,000 documents (replace mode, after they were all deleted), from
   read_time and from a logical backup: time and Firestore writes.

The 100,000 case takes several minutes on the emulator (seeding included); it runs only with
FIREWATCH_BENCH_LARGE=1. Timings are taken without tracemalloc (it slows Python down about
twofold); memory is measured in a second pass.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench.stack import bench_settings
from monitoring.backups.jobs import run_backup
from monitoring.backups.logical import export_logical, restore_all_logical
from monitoring.backups.restore import restore_user_data
from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.store import firestore_client

EXPORT_COLLECTIONS = ("prompts", "executions", "documents", "events")
USER_COLLECTIONS = ("prompts", "executions", "documents")


def _seed(
    settings: Settings,
    count: int,
    user: str = "bench-user",
    collections: tuple[str, ...] = EXPORT_COLLECTIONS,
) -> Any:
    db = firestore_client(settings)
    batch, result = db.batch(), db.collection("bench").document("seeded").set({})
    for n in range(count):
        collection = collections[n % len(collections)]
        batch.set(
            db.collection(collection).document(f"d{n:07d}"),
            {"userId": user, "n": n, "text": "small document", "score": n / 7},
        )
        if (n + 1) % 500 == 0:
            result = batch.commit()[-1]
            batch = db.batch()
    if count % 500:
        result = batch.commit()[-1]
    return result.update_time


def _measure(run: Callable[[], Any]) -> tuple[float, int, Any]:
    began = time.perf_counter()
    value = run()
    seconds = time.perf_counter() - began
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak, value


def export_and_restore(count: int) -> None:
    settings = bench_settings()
    read_time = _seed(settings, count)
    n = [0]

    def export() -> Any:
        n[0] += 1
        return export_logical(settings, f"bench-{n[0]}", read_time=read_time)

    seconds, peak, manifest = _measure(export)
    print(
        f"export  {count:>7,} docs: {count / seconds:8,.0f} docs/s ({seconds:.1f} s), "
        f"peak {peak / 1e6:.1f} MB, {manifest.bytes / 1e6:.2f} MB gzip"
    )

    def restore() -> Any:
        return restore_all_logical(settings, manifest, lambda path, data: False)

    seconds, peak, result = _measure(restore)
    print(
        f"restore {count:>7,} docs: {count / seconds:8,.0f} docs/s ({seconds:.1f} s), "
        f"peak {peak / 1e6:.1f} MB, {result.writes:,} writes"
    )


def per_user_restore(count: int = 1000) -> None:
    settings = bench_settings()
    seeded_at = _seed(settings, count, user="u-bench", collections=USER_COLLECTIONS)
    record = run_backup(settings, "bench-user-backup", seeded_at, ["manual"])
    assert record is not None and record.read_time is not None
    db = firestore_client(settings)

    def wipe() -> None:
        batch = db.batch()
        for n in range(count):
            collection = USER_COLLECTIONS[n % len(USER_COLLECTIONS)]
            batch.delete(db.collection(collection).document(f"d{n:07d}"))
            if (n + 1) % 500 == 0:
                batch.commit()
                batch = db.batch()
        batch.commit()

    for label, point, clock in (
        ("read_time", seeded_at, ManualClock(seeded_at + timedelta(minutes=5))),
        ("backup", record.read_time, ManualClock(record.read_time + timedelta(hours=2))),
    ):
        wipe()
        began = time.perf_counter()
        result = restore_user_data(settings, "u-bench", point, "replace", clock=clock)
        seconds = time.perf_counter() - began
        print(
            f"per-user restore from {label:9}: {count} docs in {seconds:.2f} s, "
            f"{result.writes} writes ({len(result.creates)} creates)"
        )


def main() -> None:
    export_and_restore(2_000)  # beside 10,000: the peak must stay the same
    export_and_restore(10_000)
    if os.environ.get("FIREWATCH_BENCH_LARGE") == "1":
        export_and_restore(100_000)
    else:
        print("(100,000 documents: set FIREWATCH_BENCH_LARGE=1; it takes several minutes)")
    per_user_restore(1000)


if __name__ == "__main__":
    main()
