from __future__ import annotations

from typing import Annotated

from pydantic import Field

from monitoring.incidents.model import Priority
from monitoring.validation import SettingsModel

__all__ = ["IncidentSettings"]

# A target or reminder interval per priority: positive, and at most 30 days (more would
# never escalate, and overflows the datetime arithmetic of the incident tick).
Minutes = Annotated[int, Field(gt=0, le=30 * 24 * 60)]


def _minutes(p0: int, p1: int, p2: int, p3: int) -> dict[Priority, int]:
    return {"P0": p0, "P1": p1, "P2": p2, "P3": p3}


class IncidentSettings(SettingsModel):
    """``FIREWATCH_INCIDENTS__*``: incident handling, escalation and the public status page."""

    enabled: bool = True
    # The guide's response targets: time to acknowledge before escalation.
    response_target_minutes: dict[Priority, Minutes] = Field(
        default_factory=lambda: _minutes(15, 60, 240, 1440)
    )
    # How often an open incident's public status must be updated before a reminder goes out.
    status_update_minutes: dict[Priority, Minutes] = Field(
        default_factory=lambda: _minutes(30, 60, 240, 1440)
    )
    # An incident in ``monitoring`` with no firing alert closes after this long.
    quiet_period_minutes: int = Field(60, gt=0, le=30 * 24 * 60)
    # Receivers (alerts.yaml names) for incident notices; None routes by alerts.yaml routes.
    receivers: list[str] | None = None
    # Each missed response target escalates to the next entry (a list of receiver names).
    escalation_receivers: list[list[str]] = Field(default_factory=list)
    review_due_days: int = Field(5, gt=0, le=365)
    default_service: str = "app"
    # Safety cap for a lockdown that revokes every user's refresh tokens.
    lockdown_max_users: int = Field(10_000, gt=0)
    status_page_title: str = "Service status"
    # Components always listed on the status page, even before any health data exists.
    status_components: list[str] = Field(default_factory=list)
    uptime_days: int = Field(90, gt=0, le=366)
