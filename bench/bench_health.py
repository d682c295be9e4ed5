"""GET /health_check latency, served over loopback by the real entry point.

Every check runs for real: Firestore and Storage on the emulators, Firebase Auth through the
Admin SDK against an HTTP stand-in for the Auth emulator, the functions' heartbeats, and the
app's API, frontend and LLM provider as local HTTP servers.

1. P95 over 200 requests with every check healthy and the public cache off, so each request
   runs every probe (aim: under 200 ms, the operations guide's API target). Beside it, in the
   same run, the baseline: a bare Firestore write and read of one document, which is what the
   minimal endpoint did.
2. The same with the default 5 s cache of public answers, as uptime robots see it.
3. One dependency hanging: each request's time against the bound (its timeout, plus the
   bounded wait for storing the report).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx

from bench.stack import BUCKET, PROJECT, bench_settings
from monitoring.health.deadman import SCHEDULES
from monitoring.health.heartbeat import write_heartbeat
from monitoring.localstack.catchers import HttpReceiver, Reply
from monitoring.store import Collections, firestore_client, reset_clients

REQUESTS = 200
TARGET_MS = 200.0
API_KEY = "bench-key-0a7c"
HANG_TIMEOUT_S = 1.0


def _answer(method: str, path: str, body: bytes) -> Reply:
    if path.endswith("accounts:batchGet"):
        return Reply(200, {"users": []})
    if path == "/api/v1/key":
        return Reply(200, {"data": {"limit_remaining": 10.0}})
    if path == "/":
        return Reply(200, "<html><div id=app></div></html>")
    return Reply(200, "pong")


def _configure(receiver: HttpReceiver, *, cache_s: float, hang: bool) -> None:
    """Point the process settings (what the deployed function reads) at the local stack."""
    from monitoring.config import cached_settings

    api: dict[str, object] = {"name": "api", "url": f"{receiver.url}/api/ping"}
    if hang:
        api.update(url=f"{receiver.url}/api/hang", timeout_s=HANG_TIMEOUT_S)
    endpoints = [api, {"name": "frontend", "url": f"{receiver.url}/", "body_contains": "app"}]
    env = {
        "FIREWATCH_PROJECT_ID": PROJECT,
        "FIREWATCH_API_KEY": API_KEY,
        "FIREWATCH_BACKUP__BUCKET": BUCKET,
        "FIREWATCH_HEALTH__CACHE_S": str(cache_s),
        "FIREWATCH_HEALTH__LLM_URL": f"{receiver.url}/api/v1/key",
        "FIREWATCH_HEALTH__LLM_API_KEY": "sk-or-v1-bench",
        "FIREWATCH_HEALTH__ENDPOINTS": json.dumps(endpoints),
        "FIREBASE_AUTH_EMULATOR_HOST": f"127.0.0.1:{receiver.port}",
        "FIREWATCH_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    cached_settings.cache_clear()


@contextmanager
def _serve() -> Iterator[str]:
    from flask import Flask, request
    from werkzeug.serving import make_server

    from monitoring import entrypoints

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = Flask("bench_health")
    app.add_url_rule("/health_check", "health_check", lambda: entrypoints.health_check(request))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/health_check"
    finally:
        server.shutdown()


def _timed(n: int, call: Callable[[], object]) -> list[float]:
    times = []
    for _ in range(n):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return times


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _line(label: str, times: list[float]) -> str:
    return (
        f"{label:<42} P50 {nearest_rank(times, 0.5):6.1f} ms   "
        f"P95 {nearest_rank(times, 0.95):6.1f} ms   max {max(times):6.1f} ms"
    )


def main() -> None:
    settings = bench_settings()
    reset_clients()
    now = datetime.now(UTC)
    for name in SCHEDULES:
        write_heartbeat(settings, name, started=now, finished=now, success=True)

    with HttpReceiver() as receiver, httpx.Client(timeout=30) as client:
        receiver.respond_with(_answer)

        # 1. Every check, every request.
        _configure(receiver, cache_s=0, hang=False)
        with _serve() as url:
            first = client.get(url, headers={"X-API-Key": API_KEY}).json()
            assert first["status"] == "healthy", first
            print("checks:", ", ".join(f"{c['name']}" for c in first["checks"]))
            full = _timed(REQUESTS, lambda: client.get(url).raise_for_status())

        probe = firestore_client(settings).collection(Collections.HEALTH).document("bench")
        baseline = _timed(REQUESTS, lambda: (probe.set({"at": now}), probe.get()))
        print(_line("baseline: Firestore write + read", baseline))
        p95 = nearest_rank(full, 0.95)
        verdict = "ok" if p95 < TARGET_MS else "OVER TARGET"
        print(_line(f"{len(first['checks'])} checks per request, no cache", full))
        print(f"  P95 {p95:.1f} ms vs target {TARGET_MS:.0f} ms: {verdict}")

        # 2. The public answer as uptime robots see it, with the default cache.
        _configure(receiver, cache_s=5, hang=False)
        with _serve() as url:
            cached = _timed(REQUESTS, lambda: client.get(url).raise_for_status())
        print(_line("public answer, 5 s cache", cached))

        # 3. One dependency that never answers.
        receiver.script("/api/hang", *[Reply(hang=True)] * 10)
        _configure(receiver, cache_s=0, hang=True)
        from monitoring.config import cached_settings

        bound_s = HANG_TIMEOUT_S + cached_settings().health.persist_timeout_s
        with _serve() as url:
            hung = _timed(5, lambda: client.get(url))
            status = client.get(url).status_code
        receiver.reset()
        print(_line(f"api hanging (timeout {HANG_TIMEOUT_S:g} s), 5 requests", hung))
        inside = max(hung) / 1000 < bound_s
        print(
            f"  answered {status}; slowest {max(hung) / 1000:.2f} s vs bound {bound_s:.2f} s: "
            f"{'ok' if inside else 'OVER BOUND'}"
        )
