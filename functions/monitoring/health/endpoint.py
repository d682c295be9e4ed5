"""GET /health_check: the short public answer, and the detailed report for admins.

- No credential: ``{"status", "time"}``, 200 when healthy or degraded, 503 when unhealthy,
  for load balancers and uptime robots. A report younger than ``health.cache_s`` is reused.
- ``X-API-Key`` or ``Authorization: Bearer <Firebase ID token with admin claim>``: every
  check with its latency and reason, always freshly run. ``?detail=1`` without credentials,
  or a bad credential, is 401; a valid token without the admin claim is 403.

The checks are bounded by their timeouts (see ``checks``) and a failing check is a status,
not an error, so this handler answers 503 rather than 500 when dependencies break.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitoring.auth import require_admin
from monitoring.errors import AuthError
from monitoring.health.checks import HealthReport, run_checks
from monitoring.health.publish import publish_bounded
from monitoring.http import error_response, json_response

if TYPE_CHECKING:
    from flask import Request, Response

    from monitoring.clock import Clock
    from monitoring.config import Settings

__all__ = ["handle", "reset_cache", "status_code"]

logger = logging.getLogger(__name__)

_cache_lock = threading.Lock()
_cache: tuple[Settings, HealthReport] | None = None


def status_code(report: HealthReport) -> int:
    return 503 if report.status == "unhealthy" else 200


def handle(request: Request, settings: Settings, clock: Clock) -> Response:
    """Answer one health request; see the module docstring for the two kinds of answer."""
    if request.method not in ("GET", "HEAD"):
        return json_response({"error": "use GET"}, 405, {"Allow": "GET, HEAD"})

    detailed = _wants_detail(request)
    if detailed:
        try:
            require_admin(request, settings)
        except AuthError as error:
            _count_refusal(settings, error.status_code, clock)
            return error_response(error)

    now = clock.now()
    report = None if detailed else _cached(settings, now)
    if report is None:
        try:
            report = run_checks(settings, now)
        except Exception:
            # Checks cannot raise; building them can (a bug, a bad setting). A health
            # endpoint that answers 500 tells a load balancer less than one that says 503.
            logger.error("health checks could not run", exc_info=True)
            return json_response({"status": "unhealthy", "time": now.isoformat()}, 503)
        publish_bounded(settings, report, now)
        _remember(settings, report)

    body = report.detailed() if detailed else report.public()
    return json_response(body, status_code(report))


def _count_refusal(settings: Settings, status: int, clock: Clock) -> None:
    """Count a refused detail request (``auth_refused``); flushed with the invocation's KPIs."""
    try:
        from monitoring.kpi.recorder import get_recorder

        labels = {"endpoint": "health_check", "status": str(status)}
        get_recorder(settings).record("auth_refused", 1, labels, at=clock.now())
    except Exception:
        logger.error("could not count a refused health request", exc_info=True)


def _wants_detail(request: Request) -> bool:
    asked = request.args.get("detail", "").lower() in ("1", "true", "yes")
    has_credential = "X-API-Key" in request.headers or "Authorization" in request.headers
    return asked or has_credential


def _cached(settings: Settings, now: datetime) -> HealthReport | None:
    with _cache_lock:
        if _cache is None or _cache[0] is not settings:
            return None
        report = _cache[1]
    age = now - report.checked_at
    if timedelta(0) <= age < timedelta(seconds=settings.health.cache_s):
        return report
    return None


def _remember(settings: Settings, report: HealthReport) -> None:
    global _cache
    with _cache_lock:
        _cache = (settings, report)


def reset_cache() -> None:
    """Forget the remembered report (tests, and settings reloads)."""
    global _cache
    with _cache_lock:
        _cache = None
