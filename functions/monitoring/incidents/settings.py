from __future__ import annotations

from pydantic import BaseModel


class IncidentSettings(BaseModel):
    """``FIREWATCH_INCIDENTS__*``: incident handling."""

    enabled: bool = True
