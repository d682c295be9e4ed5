"""Incidents as stored in Firestore (``fw_incidents/<id>``).

An incident moves investigating -> identified -> monitoring -> resolved. Every change appends
a ``TimelineEntry`` naming who acted; entries marked ``public`` are the updates the status
page shows, and nothing else of an incident leaves Firewatch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "OPEN_STATUSES",
    "PRIORITIES",
    "Incident",
    "IncidentStatus",
    "Priority",
    "Review",
    "TimelineEntry",
]

Priority = Literal["P0", "P1", "P2", "P3"]
IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved"]
EntryKind = Literal[
    "opened",
    "alert_firing",
    "alert_resolved",
    "status",
    "update",
    "acknowledged",
    "priority",
    "escalated",
    "escalation_failed",
    "reminder",
    "mitigation",
    "resolved",
    "reopened",
]

PRIORITIES: tuple[Priority, ...] = ("P0", "P1", "P2", "P3")
OPEN_STATUSES: tuple[IncidentStatus, ...] = ("investigating", "identified", "monitoring")


class TimelineEntry(BaseModel):
    at: datetime
    kind: EntryKind
    message: str
    actor: str
    status: IncidentStatus | None = None
    public: bool = False


class Review(BaseModel):
    """The post-incident review scheduled when an incident resolves."""

    due_at: datetime
    status: Literal["scheduled", "done"] = "scheduled"
    scheduled_at: datetime
    owner: str | None = None


class Incident(BaseModel):
    id: str
    title: str
    service: str
    priority: Priority
    # "auto" follows the alerts; "manual" was set by a person and alerts no longer change it.
    priority_source: Literal["auto", "manual"] = "auto"
    status: IncidentStatus = "investigating"
    open: bool = True
    opened_at: datetime
    opened_by: str
    updated_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    monitoring_since: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    affected_services: list[str] = Field(default_factory=list)
    # Alert identities (label fingerprints) currently firing, and every one ever attached.
    active_alerts: list[str] = Field(default_factory=list)
    alerts: list[str] = Field(default_factory=list)
    escalation_level: int = 0
    # Why the due escalation cannot be sent (a receiver alerts.yaml lacks); kept so the
    # timeline says it once, not every minute.
    escalation_blocked: str | None = None
    last_public_update_at: datetime | None = None
    reminders_sent: int = 0
    last_reminder_at: datetime | None = None
    review: Review | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)
    # "" for the live pipeline; "replay" for incidents a log replay opened on the log's own
    # clock. Each origin joins, ticks and escalates only its own incidents.
    origin: str = ""

    def add(
        self,
        at: datetime,
        kind: EntryKind,
        message: str,
        actor: str,
        *,
        public: bool = False,
    ) -> TimelineEntry:
        entry = TimelineEntry(
            at=at, kind=kind, message=message, actor=actor, status=self.status, public=public
        )
        self.timeline.append(entry)
        self.updated_at = at
        if public:
            self.last_public_update_at = at
        return entry

    @property
    def public_updates(self) -> list[TimelineEntry]:
        return [entry for entry in self.timeline if entry.public]
