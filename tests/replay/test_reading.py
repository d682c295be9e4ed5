"""Reading logs without Firestore: malformed lines, out-of-order lines, the lateness horizon,
gzip, format detection and time zones."""

from __future__ import annotations

import gzip
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitoring.config import load_settings
from monitoring.replay.aggregate import Aggregator, MinuteBucket
from monitoring.replay.driver import ReplayOptions, replay_file
from monitoring.replay.formats import detect_format, make_parser
from monitoring.replay.model import ReplayInputError, Request
from monitoring.replay.source import LogSource
from monitoring.replay.synthetic import demo_requests, format_line
from tests.replay.conftest import LOG_MINUTE0, LOG_START, outage_log


def _aggregate(path: Path, fmt: str, **options: object) -> Aggregator:
    aggregator = Aggregator(**options)  # type: ignore[arg-type]
    with LogSource(path) as source:
        aggregator.consume(source.lines(), make_parser(fmt))
    aggregator.finish()
    return aggregator


def _minutes(aggregator: Aggregator) -> list[tuple[int, int, int]]:
    return [(m.minute - LOG_MINUTE0, m.requests, m.errors) for m in aggregator.minutes]


def test_malformed_lines_are_counted_with_their_line_numbers(
    write: Callable[..., Path],
) -> None:
    requests = outage_log(minutes=10, per_minute=100)
    lines = [format_line("nginx", r) for r in requests]
    garbage = {
        5: "GET / HTTP/1.1",
        77: '203.0.113.9 - - [23/Feb/2026:09:00:77 +0000] "GET / HTTP/1.1" 200 1 "-" "-"',
        78: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        500: '203.0.113.9 - - [31/Feb/2026:09:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"',
        999: "}{",
    }
    for number in sorted(garbage):
        lines.insert(number - 1, garbage[number])

    aggregator = _aggregate(write("nginx", lines=lines), "nginx", keep_line_numbers=3)

    stats = aggregator.stats
    assert (stats.read, stats.parsed, stats.rejected) == (1005, 1000, 5)
    # The first three line numbers are kept with a reason; the total counts them all.
    assert [n for n, _ in stats.rejected_lines] == [5, 77, 78]
    assert "time" in stats.rejected_lines[1][1]
    assert sum(m.requests for m in aggregator.minutes) == 1000


def test_blank_lines_are_skipped_and_counted(write: Callable[..., Path]) -> None:
    lines = [format_line("nginx", r) for r in outage_log(minutes=2, per_minute=10)]
    lines[3:3] = ["", "   "]

    stats = _aggregate(write("nginx", lines=lines), "nginx").stats

    assert (stats.read, stats.parsed, stats.rejected, stats.skipped) == (22, 20, 0, 2)


def _shuffled(requests: list[Request], max_shift: int, seed: int = 3) -> list[Request]:
    """Reorder so each request moves at most ``max_shift`` positions."""
    rng = random.Random(seed)
    keyed = sorted(enumerate(requests), key=lambda p: p[0] + rng.uniform(0, max_shift))
    return [r for _, r in keyed]


def test_out_of_order_lines_within_the_horizon_land_in_their_own_minute(
    write: Callable[..., Path],
) -> None:
    requests = outage_log(minutes=12, per_minute=100)
    # Up to 250 positions at 100 lines a minute: lines up to 2.5 minutes out of place.
    shuffled = _shuffled(requests, 250)
    assert shuffled != requests
    expected = Counter(int(r.at // 60) - LOG_MINUTE0 for r in requests)
    expected_errors = Counter(int(r.at // 60) - LOG_MINUTE0 for r in requests if r.status >= 500)

    aggregator = _aggregate(write("nginx", shuffled), "nginx", horizon_minutes=3)

    assert _minutes(aggregator) == [(m, expected[m], expected_errors[m]) for m in range(12)]
    assert aggregator.stats.late == 0


def test_lines_later_than_the_horizon_are_counted_late_not_bucketed(
    write: Callable[..., Path],
) -> None:
    requests = outage_log(minutes=12, per_minute=10)
    straggler = requests.pop(5)  # minute 0, written after minute 10's first request
    lines = [format_line("nginx", r) for r in requests]
    lines.insert(100, format_line("nginx", straggler))
    closed: list[int] = []

    aggregator = _aggregate(
        write("nginx", lines=lines),
        "nginx",
        horizon_minutes=5,
        on_minute=lambda b: closed.append(b.minute - LOG_MINUTE0),
    )

    assert (aggregator.stats.late, aggregator.stats.late_lines) == (1, [101])
    assert _minutes(aggregator)[0] == (0, 9, 0)
    assert closed == list(range(12))


def test_minutes_close_in_order_with_empty_minutes_and_bounded_memory() -> None:
    closed: list[tuple[int, int]] = []
    open_sizes: list[int] = []

    def on_minute(bucket: MinuteBucket) -> None:
        closed.append((bucket.minute - LOG_MINUTE0, bucket.total))

    aggregator = Aggregator(horizon_minutes=2, on_minute=on_minute)
    base = LOG_START.timestamp()
    for minute in (0, 1, 5, 6, 30):  # gaps of 3 and 23 minutes without requests
        for n in range(4):
            aggregator.add(Request(base + minute * 60 + n, "GET", "/", 200, 5.0))
            open_sizes.append(len(aggregator._open))
    aggregator.finish()

    assert closed[:8] == [(0, 4), (1, 4), (2, 0), (3, 0), (4, 0), (5, 4), (6, 4), (7, 0)]
    assert [m for m, _ in closed] == list(range(31))
    assert max(open_sizes) <= 3  # the horizon plus the newest minute, never the whole log


def test_gzip_is_read_directly(tmp_path: Path) -> None:
    requests = outage_log(minutes=5, per_minute=50)
    path = tmp_path / "access.log.1"  # no .gz suffix: recognised by its magic bytes
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for r in requests:
            out.write(format_line("alb", r) + "\n")

    with LogSource(path) as source:
        assert source.compressed
        fmt = detect_format(source.head(50))
    aggregator = _aggregate(path, fmt)

    assert fmt == "alb"
    assert [m.requests for m in aggregator.minutes] == [50] * 5
    assert aggregator.stats.parsed == 250


# A Cloud Run request entry as Cloud Logging exports it (fields of LogEntry.httpRequest).
_CLOUD_RUN_ENTRY = (
    '{"httpRequest":{"requestMethod":"POST","requestUrl":"https://booker-6381.run.app/book",'
    '"requestSize":"754","status":502,"responseSize":"314","userAgent":"Google-Cloud-Scheduler",'
    '"remoteIp":"35.187.142.68","latency":"60.369159188s","protocol":"HTTP/1.1"},'
    '"resource":{"type":"cloud_run_revision"},"timestamp":"2025-12-29T00:58:51.018142Z",'
    '"severity":"ERROR","logName":"projects/p/logs/run.googleapis.com%2Frequests",'
    '"receiveTimestamp":"2025-12-29T00:59:51.392307785Z"}'
)


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_a_byte_order_mark_does_not_cost_the_first_line(tmp_path: Path, compressed: bool) -> None:
    # Windows tools write UTF-8 with a BOM; it used to make line 1 unreadable, so a one-line
    # export could not even be detected.
    data = ("\ufeff" + _CLOUD_RUN_ENTRY + "\n").encode()
    path = tmp_path / "export.jsonl"
    path.write_bytes(gzip.compress(data) if compressed else data)

    with LogSource(path) as source:
        fmt = detect_format(source.head(50))
    aggregator = _aggregate(path, fmt)

    assert fmt == "gcp"
    assert (aggregator.stats.parsed, aggregator.stats.rejected) == (1, 0)


@pytest.mark.parametrize("fmt", ["nginx", "apache", "gcp", "alb", "haproxy", "heroku"])
def test_format_is_detected_from_the_first_lines(fmt: str) -> None:
    lines = [format_line(fmt, r) for r in demo_requests(LOG_START, 1, 50)]
    lines.insert(3, "garbage that no format reads")

    detected = detect_format(lines)

    # Apache's %D and nginx's $request_time share one parser, named nginx.
    assert detected == ("nginx" if fmt == "apache" else fmt)


def test_undetectable_log_names_the_formats_to_choose_from() -> None:
    with pytest.raises(ReplayInputError, match="--format"):
        detect_format(["hello", "world"])


def test_zone_less_haproxy_times_are_read_in_the_given_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    request = next(iter(demo_requests(LOG_START, 1, 1)))
    line = format_line("haproxy", request, tz=paris)  # wall clock 10:00 in Paris (UTC+1)

    in_utc = make_parser("haproxy")(line)
    in_paris = make_parser("haproxy", paris)(line)

    assert in_paris is not None and in_utc is not None
    assert in_paris.at == pytest.approx(request.at, abs=0.001)
    assert in_utc.at - in_paris.at == pytest.approx(3600, abs=0.001)


def test_a_gcloud_json_array_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    entries = [format_line("gcp", r) for r in outage_log(minutes=1, per_minute=3)]
    path.write_text("[\n  " + ",\n  ".join(entries) + "\n]\n")

    with pytest.raises(ReplayInputError, match=r"jq -c"):
        replay_file(load_settings(_env_file=None), path, ReplayOptions(dry_run=True))
