"""The events the app reports to ``record_metrics``: one pydantic model per kind.

A request body is ``{"events": [{"type": "api", ...}, ...]}``; ``type`` picks the model.
Strings are bounded so a client cannot make us store megabytes of label text; ``at`` is
optional (the server's time is used) and must carry a time zone when given.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

__all__ = ["EVENT_TYPES", "Event", "EventAdapter"]

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]*$")]
UserId = Annotated[str, Field(min_length=1, max_length=200)]
Millis = Annotated[float, Field(ge=0, le=86_400_000, allow_inf_nan=False)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: AwareDatetime | None = None

    def when(self, default: datetime) -> datetime:
        return self.at or default


class ApiEvent(_Event):
    type: Literal["api"]
    endpoint: Name
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    response_time_ms: Millis
    status_code: int = Field(ge=100, le=599)
    user_id: UserId | None = None


class FunctionEvent(_Event):
    type: Literal["function"]
    function: Name
    duration_ms: Millis
    memory_mb: float | None = Field(None, ge=0, le=65_536)
    memory_limit_mb: float | None = Field(None, gt=0, le=65_536)
    success: bool = True
    cold_start: bool = False


class PageLoadEvent(_Event):
    type: Literal["page_load"]
    page: Name
    load_time_ms: Millis
    user_id: UserId | None = None


class PromptExecutionEvent(_Event):
    type: Literal["prompt_execution"]
    model: Name
    duration_ms: Millis
    tokens: int = Field(0, ge=0, le=100_000_000)
    cost_usd: float = Field(0.0, ge=0, le=100_000, allow_inf_nan=False)
    success: bool = True
    user_id: UserId | None = None


class DocumentEvent(_Event):
    type: Literal["document"]
    status: Literal["success", "error"] = "success"
    processing_ms: Millis | None = None


class SessionEvent(_Event):
    type: Literal["session"]
    duration_s: float = Field(ge=0, le=86_400 * 7, allow_inf_nan=False)
    pages: int = Field(ge=0, le=100_000)
    user_id: UserId | None = None


class FeatureEvent(_Event):
    type: Literal["feature"]
    feature: Name
    user_id: UserId | None = None


class CacheEvent(_Event):
    type: Literal["cache"]
    cache: Name
    hits: int = Field(0, ge=0, le=10_000_000)
    misses: int = Field(0, ge=0, le=10_000_000)


class GaugeEvent(_Event):
    """A sampled system level: connections, storage used, memory share of the limit."""

    type: Literal["gauge"]
    metric: Literal["db_connections", "storage_used_bytes", "function_memory_usage"]
    value: float = Field(ge=0, allow_inf_nan=False)
    labels: dict[Name, Name] = Field(default_factory=dict, max_length=5)


class AuthFailureEvent(_Event):
    type: Literal["auth_failure"]
    reason: Name = "invalid_credentials"


class AuthRefusedEvent(_Event):
    type: Literal["auth_refused"]
    endpoint: Name
    status: Literal[401, 403]


class ActiveUserEvent(_Event):
    type: Literal["active_user"]
    user_id: UserId


Event = Annotated[
    ApiEvent
    | FunctionEvent
    | PageLoadEvent
    | PromptExecutionEvent
    | DocumentEvent
    | SessionEvent
    | FeatureEvent
    | CacheEvent
    | GaugeEvent
    | AuthFailureEvent
    | AuthRefusedEvent
    | ActiveUserEvent,
    Field(discriminator="type"),
]

EventAdapter: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_TYPES = (
    "api",
    "function",
    "page_load",
    "prompt_execution",
    "document",
    "session",
    "feature",
    "cache",
    "gauge",
    "auth_failure",
    "auth_refused",
    "active_user",
)
