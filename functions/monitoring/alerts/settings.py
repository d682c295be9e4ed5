from __future__ import annotations

from pydantic import Field

from monitoring.validation import SettingsModel


class AlertSettings(SettingsModel):
    """``FIREWATCH_ALERTS__*``: evaluation."""

    # At most 30 days: a reminder rarer than that reminds nobody, and far larger values
    # overflow the datetime arithmetic of the evaluation.
    repeat_interval_minutes: int = Field(60, gt=0, le=30 * 24 * 60)
