"""Alert evaluation cost: 200 rules over 24 h of minute rollups on the Firestore emulator.

The rollups are written through the KPI recorder (as production writes them) and read back
through the KPI query API. Printed: time per evaluation and Firestore documents read per
evaluation, for 50, 100 and 200 rules, for short and long windows, and for the same rules
over data with 1 and 20 raw events per series-minute. Reads must grow with rules and windows,
and stay the same when only the number of raw events grows.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.stack import bench_settings
from monitoring.alerts.evaluator import CollectingSink
from monitoring.alerts.jobs import run_evaluation
from monitoring.alerts.rules import RuleSet, load_rules
from monitoring.alerts.source import KpiSource
from monitoring.config import Settings
from monitoring.kpi.recorder import Recorder

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ENDPOINTS = ["/api/execute", "/api/documents", "/api/users"]
MINUTES = 24 * 60


def _record_day(settings: Settings, events_per_minute: int) -> tuple[int, float]:
    """Write 24 h of minute rollups for the metrics the rules read; return (events, s)."""
    recorder = Recorder(settings)
    rng = random.Random(7)
    began, events = time.perf_counter(), 0
    start = NOW - timedelta(minutes=MINUTES)
    for minute in range(MINUTES):
        at = start + timedelta(minutes=minute, seconds=1)
        for endpoint in ENDPOINTS:
            labels = {"endpoint": endpoint, "method": "POST", "status_class": "2xx"}
            for _ in range(events_per_minute):
                recorder.record("api_requests", 1, labels, at=at)
                recorder.record("api_response_time_ms", rng.lognormvariate(5, 0.6),
                                {"endpoint": endpoint, "method": "POST"}, at=at)  # fmt: skip
                events += 2
            # Errors every minute, so both data sets have the same series-minutes and differ
            # only in raw events.
            recorder.record("api_errors", 1, {**labels, "status_class": "5xx"}, at=at)
            events += 1
        recorder.record("prompt_cost_usd", 0.02 * events_per_minute, {"model": "m"}, at=at)
        recorder.record("function_memory_usage", 0.5, {"function": "worker"}, at=at)
        if minute % 60 == 59:
            recorder.flush(NOW)
    recorder.flush(NOW)
    return events, time.perf_counter() - began


def _rules_file(count: int, windows: list[str]) -> str:
    """Return ``count`` rules cycling over endpoints, thresholds, functions and windows."""
    templates = [
        'error_rate{{endpoint="{e}"}}[{w}] > {t}%',
        'quantile(api_response_time_ms{{endpoint="{e}"}}[{w}], 0.95) > {t}0ms',
        'p99(api_response_time_ms{{endpoint="{e}"}}[{w}]) > {t}s',
        'rate(api_requests{{endpoint="{e}"}}[{w}]) > {t}',
        "max(function_memory_usage[{w}]) > 0.{t}",
        "daily_cost > budget * 1.{t}",
        'sum(api_errors{{endpoint="{e}"}}[{w}]) > {t}0',
        "avg(api_response_time_ms[{w}]) > {t}00ms",
    ]
    lines = ["groups:", "  - name: warning", "    rules:"]
    for i in range(count):
        condition = templates[i % len(templates)].format(
            e=ENDPOINTS[i % len(ENDPOINTS)], w=windows[i % len(windows)], t=1 + i % 9
        )
        lines.append(f"      - name: rule_{i:03d}")
        lines.append(f"        condition: '{condition}'")
    return "\n".join(lines) + "\n"


def _measure(settings: Settings, rules: RuleSet, runs: int = 3) -> tuple[float, float]:
    """Return (median seconds, KPI documents read) per evaluation."""
    times, reads = [], []
    for run in range(runs):
        source = KpiSource(settings)
        began = time.perf_counter()
        run_evaluation(
            settings, NOW + timedelta(minutes=run), source=source, rules=rules,
            sink=CollectingSink(),
        )  # fmt: skip
        times.append(time.perf_counter() - began)
        reads.append(source.reads)
    return statistics.median(times), statistics.median(reads)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="fw-bench-alerts-"))
    table: list[tuple[str, int, str, float, float]] = []
    for events_per_minute in (1, 20):
        settings = bench_settings()
        events, seconds = _record_day(settings, events_per_minute)
        print(f"recorded {events:,} raw events over 24 h in {seconds:.1f} s "
              f"({events_per_minute} per series-minute)")  # fmt: skip
        cases = [(200, ["5m", "10m", "1h"])] if events_per_minute == 20 else [
            (50, ["5m", "10m", "1h"]),
            (100, ["5m", "10m", "1h"]),
            (200, ["5m", "10m", "1h"]),
            (200, ["5m"]),
            (200, ["24h"]),
        ]  # fmt: skip
        for count, windows in cases:
            path = folder / f"rules_{count}_{'_'.join(windows)}.yaml"
            path.write_text(_rules_file(count, windows))
            rules = load_rules(path, settings)
            settings = settings.model_copy(update={"alerts_file": path})
            median, reads = _measure(settings, rules)
            table.append((f"{events_per_minute}/min", count, ",".join(windows), median, reads))

    print(f"\n{'raw events':>10} {'rules':>5} {'windows':>12} {'s/eval':>8} {'KPI reads/eval':>15}")
    for row in table:
        print(f"{row[0]:>10} {row[1]:>5} {row[2]:>12} {row[3]:>8.2f} {row[4]:>15,.0f}")
    same = [r for r in table if r[1] == 200 and r[2] == "5m,10m,1h"]
    print(
        "reads with 1 vs 20 raw events per series-minute: "
        f"{same[0][4]:,.0f} vs {same[-1][4]:,.0f} (must be equal)"
    )


if __name__ == "__main__":
    main()
