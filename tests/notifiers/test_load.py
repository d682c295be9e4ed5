"""Done-when load test: 1,000 notifications while a third of the receivers' answers fail at
random. Every notification reaches every receiver, none twice where the receiver supports
keys, the outbox ends empty, and no log line carries a secret."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest

from monitoring.config import Settings
from monitoring.localstack.catchers import HttpReceiver, Reply
from monitoring.notifiers.outbox import enqueue_many
from monitoring.store import Collections, firestore_client
from tests.notifiers.conftest import HOOK_TOKEN, SECRETS, alert
from tests.notifiers.test_outbox import PD, drain, outbox

COUNT = 1000


def test_1000_notifications_with_a_third_failing_are_each_delivered_once(
    fs_settings: Callable[..., Settings],
    receiver: HttpReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    settings = fs_settings(
        {
            "hook": {"kind": "webhook", "secret_env": "FIREWATCH_NOTIFY__WEBHOOK_SECRET"},
            "pd": {"kind": "pagerduty", "events_url": receiver.url + PD},
            "chat": {"kind": "slack"},
        },
        rate_limit_per_minute=10_000,
        retry_delay_s=30,
        workers=8,
        timeout_s=2.0,
    )
    rng, lock = random.Random(20260302), threading.Lock()

    def flaky(method: str, path: str, body: bytes) -> Reply:
        with lock:
            failed = rng.random() < 1 / 3
        return Reply(503, headers={"Retry-After": "1"}) if failed else Reply(200)

    receiver.respond_with(flaky)
    began = time.perf_counter()
    keys = [f"load:{i}" for i in range(COUNT)]
    notifications = [
        alert(key=key, title=f"Alert {i}", severity="critical" if i % 2 else "warning")
        for i, key in enumerate(keys)
    ]
    ids = enqueue_many(settings, notifications)
    enqueued = time.perf_counter() - began

    drains = 0
    while outbox(settings) and drains < 15:
        drain(settings, drains)
        drains += 1
    elapsed = time.perf_counter() - began

    ok = [r for r in receiver.requests() if r.status == 200]
    failed = [r for r in receiver.requests() if r.status != 200]
    pd_keys = Counter(r.json()["dedup_key"] for r in ok if r.path == PD)
    hook_keys = Counter(
        a["labels"]["key"] if "key" in a["labels"] else a["fingerprint"]
        for r in ok
        if r.path == f"/hook/{HOOK_TOKEN}"
        for a in r.json()["alerts"]
    )
    assert len(failed) > len(ok) / 4  # the receivers really did fail about a third of calls
    assert set(pd_keys) == set(keys) and max(pd_keys.values()) == 1
    assert len(hook_keys) == COUNT and max(hook_keys.values()) == 1
    records = firestore_client(settings).collection(Collections.DELIVERIES).stream()
    states = Counter(s for d in records for s in (d.to_dict() or {})["receivers"].values())
    assert states == {"delivered": 3 * COUNT}
    assert outbox(settings) == []
    assert not [line for line in caplog.text.splitlines() for s in SECRETS if s in line]
    assert len(set(ids)) == COUNT
    # About 20 s on the 2-core CI machine, most of it Firestore emulator writes; the bound
    # catches a drain that went serial (1,500 calls one after another) without flaking.
    assert elapsed < 120, f"took {elapsed:.1f} s ({enqueued:.1f} s to enqueue)"
