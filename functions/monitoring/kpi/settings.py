from __future__ import annotations

from pydantic import Field, SecretStr

from monitoring.validation import SettingsModel


class KpiSettings(SettingsModel):
    """``FIREWATCH_KPI__*``: recording, ingest limits, rollup retention and export."""

    # Recorder: flush when this much time has passed or this many series are buffered, and
    # always at the end of an invocation (so more than an hour, the longest a function runs,
    # would never be reached).
    flush_interval_s: float = Field(10.0, gt=0, le=3600)
    flush_max_series: int = Field(500, gt=0)
    # DDSketch relative accuracy of every latency quantile (0.01 = within 1 %).
    relative_accuracy: float = Field(0.01, gt=0, le=0.05)
    # Distinct label sets one instance accepts per metric; new ones beyond are refused.
    max_series_per_metric: int = Field(200, gt=0)

    # Retention: minute rollups become hourly after this many days, hourly become daily.
    minute_retention_days: int = Field(7, gt=0, le=3650)
    hourly_retention_days: int = Field(90, gt=0, le=3650)
    compaction_max_docs: int = Field(20_000, gt=0)

    # Ingest (the record_metrics function).
    ingest_key: SecretStr | None = Field(
        None, description="Key the app sends as X-Ingest-Key to report events."
    )
    ingest_max_bytes: int = Field(256 * 1024, gt=0)
    ingest_max_events: int = Field(500, gt=0)
    # Browser origins allowed to post events (CORS); "*" allows any.
    ingest_cors_origins: list[str] = Field(default_factory=list)
    # Requests per client (signed-in user, else address) per minute; 0 turns the limit off.
    ingest_rate_per_minute: int = Field(600, ge=0)

    # Immediate events, raised without waiting for an alert window.
    # At most an hour: no function runs longer, so a larger threshold would never be crossed.
    slow_execution_ms: float = Field(5000.0, gt=0, le=3_600_000)
    immediate_events: bool = True
    # Distinct immediate notifications one instance sends per minute; past it they are
    # dropped (the error-rate and latency rules still see every event).
    immediate_max_per_minute: int = Field(5, ge=1, le=1000)
    # An event older than this (its own `at`) is history, not news: it is recorded, but
    # raises no immediate notification.
    immediate_max_age_s: float = Field(120.0, gt=0, le=3600)

    # Optional export of the minute series to Cloud Monitoring as custom metrics.
    export_enabled: bool = False
    export_endpoint: str = "https://monitoring.googleapis.com"
    export_prefix: str = "custom.googleapis.com/firewatch"
