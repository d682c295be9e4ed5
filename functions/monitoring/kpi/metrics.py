"""The KPI catalogue: every metric Firewatch records, with its kind, unit, labels and help.

Names are snake_case and validated here, in one place; alert rules, the ingest function, the
dashboard and reports all use these names. Kinds:

- ``counter``: events counted per minute (``value`` adds, never negative);
- ``distribution``: observed values (latencies, sizes) kept as a quantile sketch plus
  count, sum, min and max per minute;
- ``gauge``: a level sampled now and then (last value, min, max, mean per minute);
- ``distinct``: distinct identifiers (daily active users) per UTC day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["METRICS", "MetricDef", "get_metric", "validate_labels", "validate_name"]

Kind = Literal["counter", "distribution", "gauge", "distinct"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class MetricDef:
    name: str
    kind: Kind
    unit: str  # "1" for plain counts, "ms", "s", "usd", "bytes", "mb", "ratio", "tokens"
    help: str
    labels: tuple[str, ...] = ()


def validate_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"invalid metric name {name!r}: use snake_case letters, digits and _")
    return name


_DEFS = [
    # API and functions
    MetricDef(
        "api_requests",
        "counter",
        "1",
        "HTTP requests served by the app's API",
        ("endpoint", "method", "status_class"),
    ),
    MetricDef(
        "api_errors",
        "counter",
        "1",
        "API responses with a 5xx status",
        ("endpoint", "method", "status_class"),
    ),
    MetricDef(
        "api_response_time_ms", "distribution", "ms", "API response time", ("endpoint", "method")
    ),
    MetricDef(
        "function_invocations",
        "counter",
        "1",
        "Cloud Function invocations",
        ("function", "cold_start"),
    ),
    MetricDef(
        "function_errors", "counter", "1", "Cloud Function invocations that failed", ("function",)
    ),
    MetricDef(
        "function_duration_ms",
        "distribution",
        "ms",
        "Cloud Function execution time, cold and warm kept apart",
        ("function", "cold_start"),
    ),
    MetricDef(
        "function_memory_mb", "distribution", "mb", "Memory used by an invocation", ("function",)
    ),
    MetricDef(
        "function_memory_usage",
        "gauge",
        "ratio",
        "Memory used as a share of the function's limit",
        ("function",),
    ),
    MetricDef(
        "cold_starts", "counter", "1", "Invocations that started a new instance", ("function",)
    ),
    # Frontend
    MetricDef("page_load_ms", "distribution", "ms", "Page load time in the browser", ("page",)),
    MetricDef("sessions", "counter", "1", "Frontend sessions started"),
    MetricDef("session_duration_s", "distribution", "s", "Length of finished sessions"),
    MetricDef("session_bounces", "counter", "1", "Sessions that left after one page"),
    MetricDef("feature_usage", "counter", "1", "Uses of a product feature", ("feature",)),
    # Business
    MetricDef(
        "prompt_executions", "counter", "1", "Prompt executions against an LLM", ("model", "status")
    ),
    MetricDef("prompt_execution_ms", "distribution", "ms", "Prompt execution time", ("model",)),
    MetricDef("prompt_tokens", "counter", "tokens", "Tokens used by prompt executions", ("model",)),
    MetricDef("prompt_cost_usd", "counter", "usd", "Spend on prompt executions", ("model",)),
    MetricDef("documents_processed", "counter", "1", "Uploaded documents processed", ("status",)),
    MetricDef("document_processing_ms", "distribution", "ms", "Document processing time"),
    MetricDef("active_users", "distinct", "1", "Distinct user ids seen per UTC day"),
    # System
    MetricDef("db_connections", "gauge", "1", "Open database connections"),
    MetricDef("storage_used_bytes", "gauge", "bytes", "Cloud Storage bytes used", ("bucket",)),
    MetricDef("cache_hits", "counter", "1", "Cache hits", ("cache",)),
    MetricDef("cache_misses", "counter", "1", "Cache misses", ("cache",)),
    # Security
    MetricDef("auth_failures", "counter", "1", "Failed sign-ins", ("reason",)),
    MetricDef(
        "auth_refused",
        "counter",
        "1",
        "Requests refused by authorisation (401/403)",
        ("endpoint", "status"),
    ),
    # Firewatch itself
    MetricDef("health_checks", "counter", "1", "Health probe results", ("component", "status")),
    MetricDef(
        "component_up",
        "gauge",
        "ratio",
        "1 when a component's probe was healthy, 0.5 degraded, 0 unhealthy",
        ("component",),
    ),
    MetricDef(
        "backups_completed", "counter", "1", "Backups that completed and verified", ("kind",)
    ),
    MetricDef("backups_failed", "counter", "1", "Backups that failed or did not verify", ("kind",)),
]

METRICS: dict[str, MetricDef] = {validate_name(m.name): m for m in _DEFS}


def get_metric(name: str) -> MetricDef:
    """Return the definition of ``name``; raise ``KeyError`` naming the known metrics."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(
            f"unknown metric {name!r}; known metrics: {', '.join(sorted(METRICS))}"
        ) from None


def validate_labels(metric: MetricDef, labels: dict[str, str]) -> None:
    """Raise ``ValueError`` naming any label ``metric`` does not have."""
    unknown = sorted(set(labels) - set(metric.labels))
    if unknown:
        allowed = ", ".join(metric.labels) or "none"
        raise ValueError(
            f"metric {metric.name!r} has no label {', '.join(map(repr, unknown))} "
            f"(labels: {allowed})"
        )
