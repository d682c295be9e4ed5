"""The result of a replay: how lines were accounted for, traffic, latency and alerts."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from monitoring.replay.aggregate import SKETCH_RELATIVE_ACCURACY, Aggregator

__all__ = ["AlertEpisode", "MinuteFigures", "ReplaySummary", "SentNotification", "summarise"]


class MinuteFigures(BaseModel):
    minute: datetime
    requests: int
    errors: int


class AlertEpisode(BaseModel):
    """One firing episode of one alert (rule and label set)."""

    rule: str
    labels: dict[str, str] = Field(default_factory=dict)
    severity: str = "warning"
    fired_at: datetime
    resolved_at: datetime | None = None  # None: still firing when the log ended
    peak_value: float | None = None  # the highest value the evaluator saw while it fired


class SentNotification(BaseModel):
    at: datetime
    key: str
    status: str
    severity: str
    title: str


class ReplaySummary(BaseModel):
    path: str
    format: str
    dry_run: bool = False
    lines_read: int = 0
    lines_parsed: int = 0
    lines_rejected: int = 0
    lines_skipped: int = 0  # blank lines and valid non-request entries
    lines_late: int = 0  # parsed, but later than the lateness horizon (not bucketed)
    horizon_minutes: int = 0
    rejected_lines: list[tuple[int, str]] = Field(default_factory=list)
    late_lines: list[int] = Field(default_factory=list)
    first_minute: datetime | None = None
    last_minute: datetime | None = None
    requests: int = 0
    errors: int = 0
    error_ratio: float | None = None
    peak_rpm: int = 0
    peak_minute: datetime | None = None
    median_rpm: float = 0.0
    latency_relative_accuracy: float = SKETCH_RELATIVE_ACCURACY
    latency_samples: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    quiet_minutes: int = 0  # minutes without requests in a row closed and evaluated
    quiet_minutes_skipped: int = 0  # minutes of longer gaps past those: not evaluated
    minutes: list[MinuteFigures] = Field(default_factory=list)
    alerts: list[AlertEpisode] = Field(default_factory=list)
    notifications: list[SentNotification] = Field(default_factory=list)
    evaluations: int = 0
    evaluation_errors: list[str] = Field(default_factory=list)
    refused_events: int = 0  # events the KPI recorder refused (label limits)
    endpoints_other: int = 0  # requests labelled "other" past the endpoint limit
    warnings: list[str] = Field(default_factory=list)
    duration_s: float = 0.0


def _at(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, UTC)


def _median_with_zeros(counts: list[int], zeros: int) -> float:
    """Return the median of ``counts`` and ``zeros`` more zeros, without building them."""
    ordered = sorted(counts)
    size = len(ordered) + zeros

    def at(rank: int) -> int:
        return 0 if rank < zeros else ordered[rank - zeros]

    middle = size // 2
    return float(at(middle)) if size % 2 else (at(middle - 1) + at(middle)) / 2


def _gap_warnings(aggregator: Aggregator) -> list[str]:
    warnings = [
        f"no requests from {_at(gap.quiet_from):%Y-%m-%d %H:%M}Z to "
        f"{_at(gap.resumed_at):%Y-%m-%d %H:%M}Z: after {gap.skipped_from - gap.quiet_from:,} "
        f"quiet minutes the replay skipped {gap.resumed_at - gap.skipped_from:,} "
        "(not evaluated) to the next request"
        for gap in aggregator.gaps
    ]
    listed = sum(gap.resumed_at - gap.skipped_from for gap in aggregator.gaps)
    if aggregator.skipped_minutes > listed:
        warnings.append(
            f"{aggregator.skipped_minutes - listed:,} more quiet minutes skipped in later gaps"
        )
    return warnings


def summarise(aggregator: Aggregator, *, path: str, fmt: str) -> ReplaySummary:
    """Return the traffic part of the summary from a finished ``aggregator``."""
    stats = aggregator.stats
    minutes = aggregator.minutes
    summary = ReplaySummary(
        path=path,
        format=fmt,
        lines_read=stats.read,
        lines_parsed=stats.parsed,
        lines_rejected=stats.rejected,
        lines_skipped=stats.skipped,
        lines_late=stats.late,
        horizon_minutes=aggregator.horizon,
        rejected_lines=list(stats.rejected_lines),
        late_lines=list(stats.late_lines),
        requests=aggregator.requests,
        errors=aggregator.errors,
        quiet_minutes=aggregator.quiet_minutes,
        quiet_minutes_skipped=aggregator.skipped_minutes,
        warnings=_gap_warnings(aggregator),
        minutes=[
            MinuteFigures(minute=_at(m.minute), requests=m.requests, errors=m.errors)
            for m in minutes
        ],
    )
    if minutes:
        peak = max(minutes, key=lambda m: m.requests)
        summary.first_minute, summary.last_minute = _at(minutes[0].minute), _at(minutes[-1].minute)
        summary.peak_rpm, summary.peak_minute = peak.requests, _at(peak.minute)
        # Minutes without requests inside the log's span count: a dead minute is traffic too,
        # skipped or not.
        summary.median_rpm = _median_with_zeros(
            [m.requests for m in minutes], aggregator.skipped_minutes
        )
    if aggregator.requests:
        summary.error_ratio = aggregator.errors / aggregator.requests
    sketch = aggregator.sketch
    summary.latency_samples = int(sketch.count)
    if sketch.count:
        summary.p50_ms = sketch.get_quantile_value(0.5)
        summary.p95_ms = sketch.get_quantile_value(0.95)
        summary.p99_ms = sketch.get_quantile_value(0.99)
    return summary
