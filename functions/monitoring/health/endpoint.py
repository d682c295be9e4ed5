"""GET /health_check (issue 6 extends this with every probe and the detailed report)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from monitoring.http import json_response
from monitoring.store import Collections, firestore_client

if TYPE_CHECKING:
    from flask import Request, Response

    from monitoring.clock import Clock
    from monitoring.config import Settings


def handle(request: Request, settings: Settings, clock: Clock) -> Response:
    """Answer with the overall status: 200 when Firestore answers, 503 when it does not."""
    now = clock.now()
    began = time.perf_counter()
    try:
        probe = firestore_client(settings).collection(Collections.HEALTH).document("probe")
        probe.set({"at": now}, timeout=3.0)
        healthy = probe.get(timeout=3.0).exists
    except Exception:
        healthy = False
    status = "healthy" if healthy else "unhealthy"
    body = {
        "status": status,
        "time": now.isoformat(),
        "latency_ms": round((time.perf_counter() - began) * 1000, 1),
    }
    return json_response(body, 200 if healthy else 503)
