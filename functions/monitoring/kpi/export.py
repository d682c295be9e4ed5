"""Optional export of the minute rollups to Cloud Monitoring as custom metrics.

Off by default (``kpi.export_enabled``). The hourly job exports the minutes completed since
the last export, read back from Firestore, so each point is the merged value of every
instance: Cloud Monitoring identifies a series by type and labels, and instances writing
their own partial points would collide. Counters export their per-minute sum, gauges their
last value, distributions their P95 as ``<metric>_p95``; all are GAUGE/DOUBLE points on the
``global`` resource. Requests go to the REST API ``projects.timeSeries.create``: at most 200
series per request, one point per series, so each request holds one minute. Minutes more
than a day old when a run reaches them (after an outage, or the export switched off and on)
are skipped: Cloud Monitoring takes no point older than 25 hours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from monitoring.clock import as_utc, floor_minute
from monitoring.errors import DeliveryError
from monitoring.kpi.metrics import METRICS
from monitoring.kpi.rollup import Rollup, nearest_rank
from monitoring.store import Collections

if TYPE_CHECKING:
    from google.cloud import firestore

    from monitoring.config import Settings

__all__ = ["build_requests", "export_pending", "series_for"]

logger = logging.getLogger(__name__)

_MAX_SERIES = 200
# Flushes of a minute may arrive a little after it ends; export only settled minutes.
_SETTLE = timedelta(minutes=2)
_FIRST_EXPORT = timedelta(hours=1)
# Cloud Monitoring refuses a point whose end is more than 25 hours old with a 400 for the
# whole request; the hour of margin covers this run's own length.
_MAX_AGE = timedelta(hours=24)
_STATE_DOC = "export"


def _rfc3339(when: datetime) -> str:
    return as_utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def series_for(settings: Settings, rollup: Rollup) -> dict[str, Any] | None:
    """Return the TimeSeries JSON for one minute rollup, or None if it is not exported."""
    definition = METRICS.get(rollup.metric)
    if definition is None or not rollup.count:
        return None
    name = rollup.metric
    if definition.kind == "counter":
        value = rollup.sum
    elif definition.kind == "gauge" and rollup.last is not None:
        value = rollup.last
    elif definition.kind == "distribution" and rollup.get_sketch() is not None:
        value = nearest_rank(rollup.get_sketch(), 0.95) or 0.0
        name = f"{rollup.metric}_p95"
    else:
        return None
    return {
        "metric": {
            "type": f"{settings.kpi.export_prefix}/{name}",
            "labels": dict(rollup.labels),
        },
        "resource": {"type": "global", "labels": {"project_id": settings.project_id}},
        "metricKind": "GAUGE",
        "valueType": "DOUBLE",
        "points": [
            {
                "interval": {"endTime": _rfc3339(rollup.end)},
                "value": {"doubleValue": round(value, 6)},
            }
        ],
    }


def build_requests(settings: Settings, rollups: list[Rollup]) -> list[dict[str, Any]]:
    """Return request bodies: one minute each, in time order, at most 200 series each."""
    by_minute: dict[datetime, list[dict[str, Any]]] = {}
    for rollup in sorted(rollups, key=lambda r: (r.start, r.metric, r.labels)):
        series = series_for(settings, rollup)
        if series is not None:
            by_minute.setdefault(rollup.start, []).append(series)
    bodies = []
    for _, series_list in sorted(by_minute.items()):
        for index in range(0, len(series_list), _MAX_SERIES):
            bodies.append({"timeSeries": series_list[index : index + _MAX_SERIES]})
    return bodies


def _default_token() -> str:
    import google.auth
    import google.auth.transport.requests

    credentials, _ = google.auth.default(
        scopes=["https://www.googleapis.com/auth/monitoring.write"]
    )
    credentials.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]
    return str(credentials.token)


def export_pending(
    settings: Settings,
    now: datetime,
    *,
    client: firestore.Client | None = None,
    http: httpx.Client | None = None,
    token: Callable[[], str] | None = None,
) -> int:
    """Export the settled minutes since the last export; return the series written.

    Raises ``DeliveryError`` when Cloud Monitoring refuses a request; the minutes before
    it stay exported and the next run resumes at the refused one.
    """
    from google.cloud.firestore_v1.base_query import FieldFilter

    from monitoring.store import firestore_client

    db = client or firestore_client(settings)
    state_ref = db.collection(Collections.KPI_STATE).document(_STATE_DOC)
    state = state_ref.get().to_dict() or {}
    end = floor_minute(now) - _SETTLE
    start = as_utc(state["through"]) if state.get("through") else end - _FIRST_EXPORT
    if start < end - _MAX_AGE:
        # Sent, they would be refused, and every later run would stop at the same minute.
        logger.warning(
            "KPI export skips the minutes from %s to %s: too old for Cloud Monitoring",
            _rfc3339(start),
            _rfc3339(end - _MAX_AGE),
        )
        start = end - _MAX_AGE
    if start >= end:
        return 0

    query = (
        db.collection(Collections.ROLLUPS)
        .where(filter=FieldFilter("res", "==", "minute"))
        .where(filter=FieldFilter("start", ">=", start))
        .where(filter=FieldFilter("start", "<", end))
    )
    rollups = [Rollup.from_doc(snap.to_dict() or {}) for snap in query.stream()]
    bodies = build_requests(settings, rollups)

    url = f"{settings.kpi.export_endpoint.rstrip('/')}/v3/projects/{settings.project_id}/timeSeries"
    headers = {"Authorization": f"Bearer {(token or _default_token)()}"}
    own_http = http is None
    session = http or httpx.Client(timeout=30)
    written = 0
    try:
        for body in bodies:
            response = session.post(url, json=body, headers=headers)
            if response.status_code >= 300:
                minute = body["timeSeries"][0]["points"][0]["interval"]["endTime"]
                state_ref.set({"through": _parse(minute) - timedelta(minutes=1)}, merge=True)
                raise DeliveryError(
                    f"Cloud Monitoring refused the export with status {response.status_code}",
                    permanent=response.status_code in (400, 403, 404),
                )
            written += len(body["timeSeries"])
    finally:
        if own_http:
            session.close()
    state_ref.set({"through": end}, merge=True)
    logger.info("exported %d series to Cloud Monitoring", written)
    return written


def _parse(stamp: str) -> datetime:
    return as_utc(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
