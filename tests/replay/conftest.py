"""Fixtures for replay tests: logs written per test in each format, with known contents."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitoring.replay.model import Request
from monitoring.replay.synthetic import demo_requests, write_log

# The log's own clock: a Monday morning, far from the test clock's START, so nothing the
# replay writes could be confused with data another fixture made.
LOG_START = datetime(2026, 2, 23, 9, 0, tzinfo=UTC)
LOG_MINUTE0 = int(LOG_START.timestamp()) // 60

ALERT_RULES = """
receivers:
  team-email:
    kind: email
    to: ["oncall@example.com"]
routes:
  - receivers: [team-email]
groups:
  - name: replay
    severity: warning
    rules:
      - name: api_error_ratio_high
        condition: ratio(api_errors[1m], api_requests[1m]) > 0.5 for 2m
        annotations:
          summary: "{{ value | pct }} of API requests failed"
"""


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write ``requests`` (or lines) as a log file of ``fmt`` and return its path."""

    def build(
        fmt: str,
        requests: list[Request] | None = None,
        *,
        lines: list[str] | None = None,
        name: str = "access.log",
    ) -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8") as out:
            if requests is not None:
                write_log(out, fmt, requests)
            for line in lines or []:
                out.write(line + "\n")
        return path

    return build


def outage_log(minutes: int = 20, per_minute: int = 150) -> list[Request]:
    """``minutes`` minutes of traffic with 60 % 503s in minutes 8 to 12 (five minutes)."""
    return list(
        demo_requests(
            LOG_START,
            minutes,
            per_minute,
            outage_start=8,
            outage_minutes=5,
            outage_error_ratio=0.6,
        )
    )
