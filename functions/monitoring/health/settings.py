from __future__ import annotations

from pydantic import BaseModel, Field


class HealthSettings(BaseModel):
    """``FIREWATCH_HEALTH__*``: probe timeouts and the URLs to check."""

    timeout_s: float = Field(3.0, gt=0)
