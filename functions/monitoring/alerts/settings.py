from __future__ import annotations

from pydantic import BaseModel, Field


class AlertSettings(BaseModel):
    """``FIREWATCH_ALERTS__*``: evaluation."""

    repeat_interval_minutes: int = Field(60, gt=0)
