"""The emulators for benchmarks, started once per ``make bench`` process."""

from __future__ import annotations

import atexit
import os
from functools import cache

from monitoring.config import Settings, load_settings
from monitoring.localstack.emulators import FirestoreEmulator, StorageEmulator

PROJECT = "demo-firewatch-bench"
BUCKET = "firewatch-bench"


@cache
def emulators() -> tuple[FirestoreEmulator, StorageEmulator]:
    firestore = FirestoreEmulator(PROJECT).start()
    storage = StorageEmulator(default_bucket=BUCKET).start()
    atexit.register(firestore.stop)
    atexit.register(storage.stop)
    os.environ["FIRESTORE_EMULATOR_HOST"] = firestore.host
    os.environ["STORAGE_EMULATOR_HOST"] = storage.host
    return firestore, storage


def bench_settings(**overrides: object) -> Settings:
    """Settings pointed at fresh (emptied) benchmark emulators."""
    firestore, storage = emulators()
    firestore.reset()
    storage.reset()
    values: dict[str, object] = {
        "_env_file": None,
        "FIREWATCH_PROJECT_ID": PROJECT,
        "FIRESTORE_EMULATOR_HOST": firestore.host,
        "STORAGE_EMULATOR_HOST": storage.host,
        "backup": {"bucket": BUCKET},
    }
    values.update(overrides)
    return load_settings(**values)
