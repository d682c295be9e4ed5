"""Incident lifecycle: opened by critical alerts, moved by people and by time.

Who calls what:

- ``handle_alert`` is called by the alert evaluator (``monitoring.alerts.jobs``) for each
  critical alert transition. A firing alert opens an incident or joins the open one for the
  same ``service`` label; when the last firing alert of an incident resolves, the incident
  moves to ``monitoring``.
- ``tick`` is called every minute by the ``evaluate_alerts`` entry point right after the
  evaluation (through ``tick_guarded``, so an incident failure never stops alerting) and once
  more by the daily maintenance. It closes incidents that stayed quiet in ``monitoring`` for
  ``quiet_period_minutes``, escalates unacknowledged incidents whose response target passed,
  and reminds responders whose public status update is overdue.
- People use ``open_incident``, ``update``, ``acknowledge``, ``set_priority`` and ``resolve``
  (the ``firewatch incident`` commands).

Every change runs in a Firestore transaction on the incident document, so the evaluator and
a person acting at the same moment cannot overwrite each other. Notifications go out after
the commit; their keys are stable, so a retried tick never sends one twice.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitoring.errors import InputError, NotFound
from monitoring.incidents.model import (
    OPEN_STATUSES,
    PRIORITIES,
    Incident,
    IncidentStatus,
    Priority,
    Review,
)
from monitoring.store import Collections, firestore_client

if TYPE_CHECKING:
    from monitoring.config import Settings
    from monitoring.notifiers.model import Notification

__all__ = [
    "TickResult",
    "acknowledge",
    "alert_identity",
    "classify",
    "get_incident",
    "handle_alert",
    "list_incidents",
    "open_incident",
    "resolve",
    "set_priority",
    "tick",
    "tick_guarded",
    "update",
]

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "firewatch"
# A status page heading and a notification subject, not a description.
MAX_TITLE_CHARS = 200
_SEVERITY_PRIORITY: dict[str, Priority] = {"critical": "P1", "warning": "P2", "info": "P3"}
# Label values that make any alert a P0: the whole product or users' data is at stake.
_P0_IMPACTS = {"outage", "security", "data_loss", "breach"}


@dataclass
class TickResult:
    escalated: list[str] = field(default_factory=list)
    # Due for escalation, but a receiver of the step is not in alerts.yaml: still due.
    unescalated: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)


def classify(severity: str, labels: dict[str, str]) -> Priority:
    """Return the priority for an alert of ``severity`` with ``labels``.

    An explicit ``priority`` label (P0-P3) wins; an ``impact`` or ``category`` label naming an
    outage, a security problem or data loss makes it P0; otherwise critical is P1, warning P2
    and info P3.
    """
    explicit = labels.get("priority", "").upper()
    if explicit in PRIORITIES:
        return explicit
    if {labels.get("impact", ""), labels.get("category", "")} & _P0_IMPACTS:
        return "P0"
    return _SEVERITY_PRIORITY.get(severity, "P2")


def alert_identity(labels: dict[str, str]) -> str:
    """Return a stable id for an alert's label set (firing and resolved share it)."""
    canonical = "\n".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return hashlib.sha1(canonical.encode()).hexdigest()[:16]


def _collection(settings: Settings) -> Any:
    return firestore_client(settings).collection(Collections.INCIDENTS)


def _lock_ref(settings: Settings, service: str, origin: str = "") -> Any:
    # One pointer per service (and origin) to its open incident, so two evaluations cannot
    # both open one.
    scoped = f"{origin}\x00{service}" if origin else service
    digest = hashlib.sha1(scoped.encode()).hexdigest()[:16]
    return firestore_client(settings).collection(Collections.LOCKS).document(f"incident-{digest}")


def _new_id(now: datetime) -> str:
    return f"INC-{now:%Y%m%d-%H%M}-{secrets.token_hex(2)}"


def _dump(incident: Incident) -> dict[str, Any]:
    return incident.model_dump(mode="python")


def _load(data: dict[str, Any]) -> Incident:
    return Incident.model_validate(data)


def get_incident(settings: Settings, incident_id: str) -> Incident:
    """Return incident ``incident_id``; raise ``NotFound`` when there is none."""
    snap = _collection(settings).document(incident_id).get()
    if not snap.exists:
        raise NotFound(f"no incident {incident_id!r}; `firewatch incident list` shows them")
    return _load(snap.to_dict() or {})


def list_incidents(
    settings: Settings, *, open_only: bool = False, since: datetime | None = None
) -> list[Incident]:
    """Return incidents, newest first; ``since`` keeps those opened at or after it."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = _collection(settings)
    if open_only:
        query = query.where(filter=FieldFilter("open", "==", True))
    elif since is not None:
        # Single-field filter: served by Firestore's automatic index, no composite needed.
        query = query.where(filter=FieldFilter("opened_at", ">=", since))
    incidents = [_load(doc.to_dict() or {}) for doc in query.stream()]
    if since is not None:
        incidents = [i for i in incidents if i.opened_at >= since]
    return sorted(incidents, key=lambda i: i.opened_at, reverse=True)


def _mutate(settings: Settings, incident_id: str, change: Callable[[Incident], None]) -> Incident:
    from google.cloud import firestore

    client = firestore_client(settings)
    ref = client.collection(Collections.INCIDENTS).document(incident_id)

    @firestore.transactional
    def run(transaction: Any) -> Incident:
        snap = ref.get(transaction=transaction)
        if not snap.exists:
            raise NotFound(f"no incident {incident_id!r}; `firewatch incident list` shows them")
        incident = _load(snap.to_dict() or {})
        # Transactions allow no read after a write: read the service pointer first.
        lock = _lock_ref(settings, incident.service, incident.origin)
        held = lock.get(transaction=transaction)
        change(incident)
        transaction.set(ref, _dump(incident))
        if not incident.open and (held.to_dict() or {}).get("incident_id") == incident.id:
            transaction.delete(lock)
        return incident

    result: Incident = run(client.transaction())
    return result


def _require_open(incident: Incident) -> None:
    if not incident.open:
        raise InputError(f"incident {incident.id} is resolved; open a new one instead")


# Opening and joining -----------------------------------------------------------------------


def open_incident(
    settings: Settings,
    *,
    title: str,
    now: datetime,
    actor: str,
    service: str | None = None,
    priority: Priority | None = None,
    message: str | None = None,
    affected_services: list[str] | None = None,
) -> Incident:
    """Open an incident by hand (``priority`` defaults to P2 and counts as set by hand).

    Raises ``InputError`` for a title that is empty, over ``MAX_TITLE_CHARS`` or not one
    line, and for an empty ``service`` (None means the default service).
    """
    title = _check_title(title)
    if service is not None and not service.strip():
        raise InputError(
            f"service is empty; name the affected service or leave it out"
            f" (default {settings.incidents.default_service!r})"
        )
    service = service or settings.incidents.default_service
    incident = Incident(
        id=_new_id(now),
        title=title,
        service=service,
        priority=priority or "P2",
        priority_source="manual" if priority else "auto",
        opened_at=now,
        opened_by=actor,
        updated_at=now,
        affected_services=sorted({service, *(affected_services or [])}),
    )
    incident.add(now, "opened", message or f"Investigating: {incident.title}", actor, public=True)
    _collection(settings).document(incident.id).set(_dump(incident))
    _lock_ref(settings, service).set({"incident_id": incident.id, "at": now}, merge=True)
    logger.info("incident %s opened by %s", incident.id, actor, extra={"incident": incident.id})
    _notify(settings, incident, "opened", now)
    return incident


def _check_title(title: str) -> str:
    # The title is the status page's heading, every notification's subject and a row of
    # `incident list`: all one-line places, which a newline or a NUL would break.
    title = title.strip()
    if not title:
        raise InputError("title is empty; describe what users see")
    if len(title) > MAX_TITLE_CHARS:
        raise InputError(
            f"title is {len(title)} characters; keep it to {MAX_TITLE_CHARS}"
            " and put the details in the first update (--message)"
        )
    control = next((c for c in title if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    if control is not None:
        raise InputError(
            f"title holds a line break or control character (U+{ord(control):04X});"
            " keep it to one line of text"
        )
    return title


def handle_alert(
    settings: Settings, notification: Notification, now: datetime, *, origin: str = ""
) -> Incident | None:
    """Open, join or calm an incident of ``origin`` for a critical alert transition.

    Returns the incident touched, or None when the notification concerns no incident (not a
    critical alert, incidents disabled, or a resolution for an alert no incident holds).
    Safe to call twice for the same transition: joining is idempotent by alert identity.
    """
    if not settings.incidents.enabled or notification.kind != "alert":
        return None
    if notification.status == "firing" and notification.severity != "critical":
        return None
    if notification.status not in ("firing", "resolved"):
        return None

    from google.cloud import firestore

    labels = dict(notification.labels)
    service = labels.get("service") or settings.incidents.default_service
    alert_id = alert_identity(labels)
    client = firestore_client(settings)
    lock = _lock_ref(settings, service, origin)
    created: list[Incident] = []

    @firestore.transactional
    def run(transaction: Any) -> Incident | None:
        created.clear()
        incident: Incident | None = None
        held = lock.get(transaction=transaction)
        if held.exists:
            held_id = (held.to_dict() or {}).get("incident_id")
            if held_id:
                snap = _collection(settings).document(held_id).get(transaction=transaction)
                if snap.exists:
                    incident = _load(snap.to_dict() or {})
                    incident = incident if incident.open else None

        if notification.status == "firing":
            is_new = incident is None
            incident = _join_or_open(incident, notification, service, alert_id, now, origin)
            if is_new:
                created.append(incident)
            transaction.set(lock, {"incident_id": incident.id, "at": now})
        else:
            if incident is None or alert_id not in incident.alerts:
                return None
            _alert_resolved(incident, notification, alert_id, now)
        transaction.set(_collection(settings).document(incident.id), _dump(incident))
        return incident

    result: Incident | None = run(client.transaction())
    if result is not None and created:
        logger.info("incident %s opened by alert", result.id, extra={"incident": result.id})
        _notify(settings, result, "opened", now)
    return result


def _join_or_open(
    incident: Incident | None,
    notification: Notification,
    service: str,
    alert_id: str,
    now: datetime,
    origin: str,
) -> Incident:
    labels = notification.labels
    priority = classify(notification.severity, labels)
    affected = {service, *(v for k, v in labels.items() if k in ("component", "affected"))}
    if incident is None:
        incident = Incident(
            id=_new_id(now),
            title=notification.title,
            service=service,
            priority=priority,
            opened_at=now,
            opened_by=f"alert:{labels.get('alertname', notification.title)}",
            updated_at=now,
            origin=origin,
        )
        incident.add(
            now, "opened", f"Investigating: {notification.title}", SYSTEM_ACTOR, public=True
        )

    if alert_id in incident.active_alerts:
        return incident
    incident.active_alerts.append(alert_id)
    if alert_id not in incident.alerts:
        incident.alerts.append(alert_id)
    incident.affected_services = sorted(set(incident.affected_services) | affected)
    detail = notification.summary or notification.title
    incident.add(now, "alert_firing", f"Alert firing: {detail}", SYSTEM_ACTOR)

    if incident.priority_source == "auto" and PRIORITIES.index(priority) < PRIORITIES.index(
        incident.priority
    ):
        incident.priority = priority
        incident.add(now, "priority", f"Priority raised to {priority} by alert", SYSTEM_ACTOR)
    if incident.status == "monitoring":
        incident.status = "investigating"
        incident.monitoring_since = None
        incident.add(
            now, "status", "An alert fired again; investigating", SYSTEM_ACTOR, public=True
        )
    return incident


def _alert_resolved(
    incident: Incident, notification: Notification, alert_id: str, now: datetime
) -> None:
    if alert_id in incident.active_alerts:
        incident.active_alerts.remove(alert_id)
        incident.add(now, "alert_resolved", f"Alert resolved: {notification.title}", SYSTEM_ACTOR)
    if not incident.active_alerts and incident.status != "monitoring":
        incident.status = "monitoring"
        incident.monitoring_since = now
        incident.add(
            now,
            "status",
            "A fix is in place and we are monitoring the results.",
            SYSTEM_ACTOR,
            public=True,
        )


# People acting -----------------------------------------------------------------------------


def update(
    settings: Settings,
    incident_id: str,
    *,
    message: str,
    now: datetime,
    actor: str,
    status: IncidentStatus | None = None,
    public: bool = True,
    affected_services: list[str] | None = None,
) -> Incident:
    """Add an update (public by default), optionally moving the status on.

    Setting status ``resolved`` is the same as ``resolve``.
    """
    if not message.strip():
        raise InputError("message is empty; say what changed")
    if status == "resolved":
        return resolve(settings, incident_id, now=now, actor=actor, message=message)

    def change(incident: Incident) -> None:
        _require_open(incident)
        if status is not None and status != incident.status:
            incident.status = status
            incident.monitoring_since = now if status == "monitoring" else None
        if affected_services:
            incident.affected_services = sorted(
                set(incident.affected_services) | set(affected_services)
            )
        incident.add(now, "status" if status else "update", message.strip(), actor, public=public)

    return _mutate(settings, incident_id, change)


def acknowledge(settings: Settings, incident_id: str, *, now: datetime, actor: str) -> Incident:
    """Record that ``actor`` took the incident; stops escalation. Acknowledging twice keeps
    the first acknowledgement."""

    def change(incident: Incident) -> None:
        _require_open(incident)
        if incident.acknowledged_at is None:
            incident.acknowledged_at = now
            incident.acknowledged_by = actor
            incident.add(now, "acknowledged", f"Acknowledged by {actor}", actor)

    return _mutate(settings, incident_id, change)


def set_priority(
    settings: Settings, incident_id: str, priority: Priority, *, now: datetime, actor: str
) -> Incident:
    """Override the priority by hand; alerts no longer change it afterwards."""
    if priority not in PRIORITIES:
        raise InputError(f"priority {priority!r} is not one of {', '.join(PRIORITIES)}")

    def change(incident: Incident) -> None:
        _require_open(incident)
        previous = incident.priority
        incident.priority = priority
        incident.priority_source = "manual"
        incident.add(now, "priority", f"Priority set from {previous} to {priority}", actor)

    return _mutate(settings, incident_id, change)


def resolve(
    settings: Settings,
    incident_id: str,
    *,
    now: datetime,
    actor: str,
    message: str | None = None,
) -> Incident:
    """Resolve the incident and schedule its post-incident review."""

    def change(incident: Incident) -> None:
        _require_open(incident)
        _close(settings, incident, now, actor, message or "This incident has been resolved.")

    incident = _mutate(settings, incident_id, change)
    _notify(settings, incident, "resolved", now)
    return incident


def _close(settings: Settings, incident: Incident, now: datetime, actor: str, message: str) -> None:
    incident.status = "resolved"
    incident.open = False
    incident.resolved_at = now
    incident.resolved_by = actor
    incident.add(now, "resolved", message, actor, public=True)
    incident.review = Review(
        due_at=now + timedelta(days=settings.incidents.review_due_days),
        scheduled_at=now,
        owner=incident.acknowledged_by,
    )
    logger.info("incident %s resolved by %s", incident.id, actor, extra={"incident": incident.id})


# Time passing ------------------------------------------------------------------------------


def tick(
    settings: Settings, now: datetime, *, origin: str = "", close_only: bool = False
) -> TickResult:
    """Close quiet incidents, escalate missed response targets, remind overdue updates.

    Only incidents of ``origin`` are ticked in full: a replay's incidents live on the log's
    clock, and the wall clock would escalate last week's replayed outage at once. The live
    tick (``origin`` "") still closes other origins' incidents whose quiet period has passed,
    which is all that time can do to them. ``close_only`` runs the quiet-period close alone.
    """
    result = TickResult()
    for incident in list_incidents(settings, open_only=True):
        if incident.origin != origin and origin:
            continue
        only_close = close_only or incident.origin != origin
        outcome: dict[str, Any] = {}

        def change(
            current: Incident, outcome: dict[str, Any] = outcome, only_close: bool = only_close
        ) -> None:
            _tick_one(settings, current, now, outcome, only_close)

        updated = _mutate(settings, incident.id, change)
        if "closed" in outcome:
            result.closed.append(updated.id)
            _notify(settings, updated, "resolved", now)
        if "unescalated" in outcome:
            result.unescalated.append(updated.id)
            logger.error(
                "incident %s not escalated: %s",
                updated.id,
                outcome["unescalated"],
                extra={"incident": updated.id},
            )
        if "escalated" in outcome:
            result.escalated.append(updated.id)
            _send(settings, outcome["escalated"], outcome["escalation_receivers"], now)
        if "reminder" in outcome:
            result.reminded.append(updated.id)
            _send(settings, outcome["reminder"], settings.incidents.receivers, now)
    return result


def tick_guarded(settings: Settings, now: datetime, *, origin: str = "") -> TickResult | None:
    """Run ``tick``, logging instead of raising (the alert evaluator must keep running)."""
    try:
        return tick(settings, now, origin=origin)
    except Exception:
        logger.error("incident tick failed", exc_info=True)
        return None


def _tick_one(
    settings: Settings,
    incident: Incident,
    now: datetime,
    outcome: dict[str, Any],
    close_only: bool = False,
) -> None:
    config = settings.incidents
    if not incident.open:
        return

    quiet = timedelta(minutes=config.quiet_period_minutes)
    if (
        incident.status == "monitoring"
        and not incident.active_alerts
        and incident.monitoring_since is not None
        and now - incident.monitoring_since >= quiet
    ):
        _close(
            settings,
            incident,
            now,
            SYSTEM_ACTOR,
            f"Resolved after {config.quiet_period_minutes} minutes without a firing alert.",
        )
        outcome["closed"] = True
        return
    if close_only:
        return

    target = timedelta(minutes=config.response_target_minutes.get(incident.priority, 60))
    level = incident.escalation_level
    if (
        incident.acknowledged_at is None
        and level < len(config.escalation_receivers)
        and now >= incident.opened_at + target * (level + 1)
    ):
        _escalate(settings, incident, now, target, outcome)

    interval = timedelta(minutes=config.status_update_minutes.get(incident.priority, 60))
    last_update = incident.last_public_update_at or incident.opened_at
    last_nudge = max(last_update, incident.last_reminder_at or last_update)
    if incident.status in OPEN_STATUSES and now - last_nudge >= interval:
        incident.reminders_sent += 1
        incident.last_reminder_at = now
        incident.add(now, "reminder", "Public status update overdue; reminder sent", SYSTEM_ACTOR)
        outcome["reminder"] = _notice(
            incident,
            now,
            key=f"incident:{incident.id}:reminder:{incident.reminders_sent}",
            title=f"[{incident.priority}] Status update overdue: {incident.title}",
            summary=(
                f"The public status of {incident.id} was last updated {_human(now - last_update)}"
                f" ago; {incident.priority} incidents are updated every {_human(interval)}."
            ),
            severity="warning",
        )


def _escalate(
    settings: Settings,
    incident: Incident,
    now: datetime,
    target: timedelta,
    outcome: dict[str, Any],
) -> None:
    from monitoring.config import receiver_list_problem
    from monitoring.notifiers.outbox import routing_for

    level = incident.escalation_level
    receivers = settings.incidents.escalation_receivers[level]
    # Checked before the escalation is recorded: the notice is queued after the commit, and
    # a name the outbox refuses there would leave an escalation no one received.
    blocked = receiver_list_problem(
        f"FIREWATCH_INCIDENTS__ESCALATION_RECEIVERS[{level}]",
        receivers,
        routing_for(settings).receivers,
        may_be_empty=False,
    )
    if blocked is not None:
        outcome["unescalated"] = blocked
        if incident.escalation_blocked != blocked:
            incident.escalation_blocked = blocked
            incident.add(
                now,
                "escalation_failed",
                f"Response target of {_human(target)} missed; cannot escalate: {blocked}",
                SYSTEM_ACTOR,
            )
        return

    incident.escalation_level = level + 1
    incident.escalation_blocked = None
    incident.add(
        now,
        "escalated",
        f"Response target of {_human(target)} missed; escalated to {', '.join(receivers)}",
        SYSTEM_ACTOR,
    )
    outcome["escalated"] = _notice(
        incident,
        now,
        key=f"incident:{incident.id}:escalation:{level + 1}",
        title=f"[{incident.priority}] Unacknowledged incident: {incident.title}",
        summary=f"No one acknowledged {incident.id} within {_human(target)}.",
    )
    outcome["escalation_receivers"] = receivers


def _human(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % 1440 == 0 and minutes:
        return f"{minutes // 1440} d"
    if minutes % 60 == 0 and minutes:
        return f"{minutes // 60} h"
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes} min"


# Notifications -----------------------------------------------------------------------------


def _notice(
    incident: Incident,
    now: datetime,
    *,
    key: str,
    title: str,
    summary: str,
    severity: str = "critical",
    status: str = "firing",
) -> Notification:
    from monitoring.notifiers.model import Notification

    return Notification(
        key=key,
        # Every notice of one incident is about one problem: on PagerDuty the resolve closes
        # what the opening notice triggered, and escalations and reminders update it.
        dedup_key=f"incident:{incident.id}",
        kind="incident",
        status=status,
        severity=severity,
        title=title[:300],
        summary=summary,
        labels={
            "incident": incident.id,
            "service": incident.service,
            "priority": incident.priority,
        },
        fields={
            "incident": incident.id,
            "priority": incident.priority,
            "status": incident.status,
            "affected": ", ".join(incident.affected_services),
        },
        starts_at=incident.opened_at,
        ends_at=incident.resolved_at,
        created_at=now,
    )


def _notify(settings: Settings, incident: Incident, event: str, now: datetime) -> None:
    if event == "opened":
        notice = _notice(
            incident,
            now,
            key=f"incident:{incident.id}:opened",
            title=f"[{incident.priority}] Incident opened: {incident.title}",
            summary=f"{incident.id} affects {', '.join(incident.affected_services)}.",
            severity="critical" if incident.priority in ("P0", "P1") else "warning",
        )
    else:
        notice = _notice(
            incident,
            now,
            key=f"incident:{incident.id}:resolved",
            title=f"[{incident.priority}] Incident resolved: {incident.title}",
            summary=f"{incident.id} was resolved by {incident.resolved_by}.",
            severity="info",
            status="resolved",
        )
    _send(settings, notice, settings.incidents.receivers, now)


def _send(
    settings: Settings, notification: Notification, receivers: list[str] | None, now: datetime
) -> None:
    # The incident is already committed; a notification that cannot be queued is logged, not
    # raised, so the caller's state change (and the alert evaluation around it) stands.
    try:
        from monitoring.notifiers.outbox import (  # type: ignore[import-not-found,unused-ignore]
            enqueue,
        )

        enqueue(settings, notification, receivers, now=now)
    except Exception:
        logger.error("could not queue incident notification %s", notification.key, exc_info=True)


def record_mitigation(
    settings: Settings, incident_id: str, summary: str, *, now: datetime, actor: str
) -> Incident:
    """Add a (non-public) mitigation entry to the incident's timeline."""

    def change(incident: Incident) -> None:
        incident.add(now, "mitigation", summary, actor)

    return _mutate(settings, incident_id, change)
