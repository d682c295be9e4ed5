from __future__ import annotations

from pydantic import BaseModel, Field


class KpiSettings(BaseModel):
    """``FIREWATCH_KPI__*``: recording and rollup retention."""

    flush_interval_s: float = Field(10.0, gt=0)
    flush_max_series: int = Field(500, gt=0)
    minute_retention_days: int = Field(7, gt=0)
    hourly_retention_days: int = Field(90, gt=0)
