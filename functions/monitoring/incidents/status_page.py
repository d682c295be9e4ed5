"""The public status page: HTML for people, JSON for machines.

What it shows, and where it comes from:

- each component's status: ``fw_status/components`` (written by the health checks), plus
  the components named in ``incidents.status_components``;
- open incidents with their public updates, however old, and incidents resolved in the
  last 90 days, whenever they opened (``fw_incidents``; only titles, priorities, times
  and public updates are copied out);
- 90 days of uptime per component: ``fw_status/uptime``, written each day by the daily
  maintenance from the ``component_up`` KPI (``record_daily_uptime``), so a page view reads
  two small documents instead of 90 days of rollups.

Nothing private leaves: no timeline entries that are not public, no actors, no alert labels,
no user ids. The HTML has no script at all and is laid out for a phone first.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from monitoring.http import json_response
from monitoring.store import Collections, firestore_client

if TYPE_CHECKING:
    from flask import Request, Response

    from monitoring.clock import Clock
    from monitoring.config import Settings
    from monitoring.incidents.model import Incident

__all__ = ["PublicStatus", "build_status", "handle", "record_daily_uptime"]

logger = logging.getLogger(__name__)

_STATUS_RANK = {"operational": 0, "unknown": 1, "degraded": 2, "outage": 3}
# probe_health writes the component summary every minute; one this old means the probes
# stopped, and the last word ("operational") would be shown for good.
STALE_AFTER = timedelta(minutes=15)
# Health checks say healthy/degraded/unhealthy; the page speaks the usual status-page words.
_WORDS = {
    "healthy": "operational",
    "ok": "operational",
    "up": "operational",
    "operational": "operational",
    "degraded": "degraded",
    "warning": "degraded",
    "unhealthy": "outage",
    "down": "outage",
    "outage": "outage",
    "critical": "outage",
}
_INCIDENT_WORDS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}


class PublicUpdate(BaseModel):
    at: datetime
    status: str
    message: str


class PublicIncident(BaseModel):
    id: str
    title: str
    priority: str
    status: str
    started_at: datetime
    resolved_at: datetime | None
    affected: list[str]
    updates: list[PublicUpdate]


class DayUptime(BaseModel):
    day: date
    uptime: float | None  # 0..1; None = no data that day


class PublicComponent(BaseModel):
    name: str
    status: str
    uptime_90d: float | None
    days: list[DayUptime]


class PublicStatus(BaseModel):
    title: str
    status: str
    generated_at: datetime
    components: list[PublicComponent]
    open_incidents: list[PublicIncident]
    past_incidents: list[PublicIncident]


def _word(raw: Any) -> str:
    if isinstance(raw, dict):
        raw = raw.get("status")
    return _WORDS.get(str(raw).lower(), "unknown")


def _public(incident: Incident) -> PublicIncident:
    return PublicIncident(
        id=incident.id,
        title=incident.title,
        priority=incident.priority,
        status=incident.status,
        started_at=incident.opened_at,
        resolved_at=incident.resolved_at,
        affected=list(incident.affected_services),
        updates=[
            PublicUpdate(at=e.at, status=e.status or incident.status, message=e.message)
            for e in reversed(incident.public_updates)
        ],
    )


def _shown_incidents(settings: Settings, since: datetime) -> tuple[list[Incident], list[Incident]]:
    """Return every open incident, however long ago it opened, and those resolved since
    ``since`` (opened before it or not), each newest first."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    from monitoring.incidents.model import Incident
    from monitoring.incidents.service import list_incidents

    current = list_incidents(settings, open_only=True)
    # Single-field filter: served by Firestore's automatic index, no composite needed.
    query = (
        firestore_client(settings)
        .collection(Collections.INCIDENTS)
        .where(filter=FieldFilter("resolved_at", ">=", since))
    )
    resolved = [Incident.model_validate(doc.to_dict() or {}) for doc in query.stream()]
    resolved = [i for i in resolved if not i.open]
    return current, sorted(resolved, key=lambda i: i.opened_at, reverse=True)


def build_status(settings: Settings, now: datetime) -> PublicStatus:
    """Return everything the page shows, already stripped of private data."""
    days_back = settings.incidents.uptime_days
    status_docs = firestore_client(settings).collection(Collections.STATUS)
    components_doc = status_docs.document("components").get().to_dict() or {}
    raw_components = components_doc.get("components", components_doc)
    updated = components_doc.get("updated_at")
    stale = isinstance(updated, datetime) and now - updated > STALE_AFTER
    uptime_doc = status_docs.document("uptime").get().to_dict() or {}
    raw_uptime: dict[str, dict[str, float]] = uptime_doc.get("components", {})

    names = set(settings.incidents.status_components) | set(raw_uptime)
    if isinstance(raw_components, dict):
        names |= {n for n, v in raw_components.items() if isinstance(v, dict | str)}
    today = now.date()
    window = [today - timedelta(days=offset) for offset in range(days_back - 1, -1, -1)]

    current, resolved = _shown_incidents(settings, now - timedelta(days=days_back))
    open_incidents = [_public(i) for i in current]
    past = [_public(i) for i in resolved]
    hit = {s for i in current for s in i.affected_services}

    components = []
    for name in sorted(names):
        status = (
            _word(raw_components.get(name))
            if isinstance(raw_components, dict) and not stale
            else "unknown"
        )
        if name in hit and status == "operational":
            status = "degraded"  # an open incident outranks a probe that happens to pass
        history = raw_uptime.get(name, {})
        days = [DayUptime(day=d, uptime=history.get(d.isoformat())) for d in window]
        known = [d.uptime for d in days if d.uptime is not None]
        overall = sum(known) / len(known) if known else None
        components.append(PublicComponent(name=name, status=status, uptime_90d=overall, days=days))

    worst = max((c.status for c in components), key=_STATUS_RANK.__getitem__, default="unknown")
    if open_incidents and worst == "operational":
        worst = "degraded"
    return PublicStatus(
        title=settings.incidents.status_page_title,
        status=worst,
        generated_at=now,
        components=components,
        open_incidents=open_incidents,
        past_incidents=past,
    )


def _wants_json(request: Request) -> bool:
    if request.args.get("format") == "json":
        return True
    if request.args.get("format") == "html":
        return False
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def handle(request: Request, settings: Settings, clock: Clock) -> Response:
    """Serve the status page: JSON with ``?format=json`` or ``Accept: application/json``."""
    from flask import Response

    if request.method not in ("GET", "HEAD"):
        return json_response({"error": "use GET"}, 405, {"Allow": "GET, HEAD"})
    status = build_status(settings, clock.now())
    if _wants_json(request):
        response = json_response(status.model_dump(mode="json"))
    else:
        response = Response(_render(status), mimetype="text/html")
    # Public and the same for everyone: let browsers and the CDN keep it for a minute.
    response.headers["Cache-Control"] = "public, max-age=60"
    response.headers["Vary"] = "Accept"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _render(status: PublicStatus) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitoring.incidents", "templates"),
        autoescape=True,
    )
    env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else ""
    env.filters["pct"] = lambda value: "no data" if value is None else f"{value * 100:.2f}%"
    return env.get_template("status_page.html.j2").render(status=status, words=_INCIDENT_WORDS)


def record_daily_uptime(settings: Settings, day: date, now: datetime) -> dict[str, float]:
    """Store ``day``'s uptime per component in ``fw_status/uptime`` from ``component_up``.

    Returns the values written. Days older than the page shows are dropped, so the document
    stays small. Idempotent: recording a day twice overwrites it.
    """
    from monitoring.kpi.query import KpiQuery, Window  # type: ignore[import-not-found,unused-ignore]

    query = KpiQuery(settings)
    window = Window.utc_day(datetime(day.year, day.month, day.day, tzinfo=UTC))
    by_component: dict[str, float | None] = query.aggregate_by(
        "component_up", "avg", window, by="component"
    )
    values = {name: float(v) for name, v in by_component.items() if v is not None}

    doc = firestore_client(settings).collection(Collections.STATUS).document("uptime")
    current = doc.get().to_dict() or {}
    components: dict[str, dict[str, float]] = current.get("components", {})
    oldest = (day - timedelta(days=settings.incidents.uptime_days)).isoformat()
    for name, value in values.items():
        history = components.setdefault(name, {})
        history[day.isoformat()] = value
    for name, history in components.items():
        components[name] = {d: v for d, v in history.items() if d > oldest}
    doc.set({"components": components, "updated_at": now})
    return values
