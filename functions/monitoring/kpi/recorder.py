"""KPI recorder (issue 3 replaces this module with the in-memory aggregating recorder)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitoring.config import Settings


def record_invocation(
    settings: Settings,
    *,
    function: str,
    duration_ms: float,
    memory_mb: float,
    success: bool,
    cold_start: bool,
    now: datetime,
) -> None:
    """Record one Firewatch function invocation as a function-performance KPI."""
    raise NotImplementedError("KPI recording is not implemented yet (issue 3)")
