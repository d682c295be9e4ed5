"""Logs a careless or hostile operator hands to `firewatch replay`: refused or counted, fast."""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitoring.cli import app
from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.replay.aggregate import Aggregator, QuietGap
from monitoring.replay.driver import ReplayOptions, replay_file
from monitoring.replay.formats import FORMATS, detect_format, make_parser
from monitoring.replay.model import Malformed, ReplayInputError, Request
from monitoring.replay.summary import summarise
from monitoring.replay.synthetic import demo_requests, format_line
from tests.conftest import PROJECT
from tests.replay.conftest import ALERT_RULES, LOG_START, outage_log

T0 = LOG_START.timestamp() + 1


def _aggregate(lines: list[str], fmt: str) -> Aggregator:
    aggregator = Aggregator()
    aggregator.consume(lines, make_parser(fmt))
    aggregator.finish()
    return aggregator


def _flat(text: str) -> str:
    """``text`` without whitespace: Rich wraps long error lines anywhere."""
    return "".join(text.split())


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(ALERT_RULES)
    monkeypatch.setenv("FIREWATCH_PROJECT_ID", PROJECT)
    monkeypatch.setenv("FIREWATCH_ALERTS_FILE", str(rules))
    return rules


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_a_one_megabyte_line_is_rejected_in_well_under_a_second(name: str) -> None:
    # HAProxy's unanchored search once retried \S+ from every offset: 46 s for 100 KB.
    parse = make_parser(name)
    for line in ("x" * 1_000_000, "a:1 " * 250_000):
        began = time.perf_counter()
        with pytest.raises(Malformed):
            parse(line)
        assert time.perf_counter() - began < 1.0


def test_an_empty_log_says_it_is_empty() -> None:
    with pytest.raises(ReplayInputError, match="the log is empty"):
        detect_format(["", "  "])


def test_a_directory_is_a_usage_error_that_says_so(cli_env: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["replay", str(tmp_path), "--dry-run"])
    assert result.exit_code == 2
    assert "isadirectory" in _flat(result.output)


def test_a_binary_file_is_refused_as_unrecognised(cli_env: Path, tmp_path: Path) -> None:
    path = tmp_path / "core"
    path.write_bytes(bytes(range(256)) * 64)
    result = CliRunner().invoke(app, ["replay", str(path), "--dry-run"])
    assert result.exit_code == 1
    assert "couldnotrecognisethelogformat" in _flat(result.output)


def test_only_malformed_lines_with_a_format_exit_1_with_them_counted(
    cli_env: Path, tmp_path: Path
) -> None:
    path = tmp_path / "access.log"
    path.write_text("garbage\n\x00\x01\nmore garbage\n")
    result = CliRunner().invoke(app, ["replay", str(path), "-f", "nginx", "--dry-run", "--json"])
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["lines_read"], summary["lines_rejected"]) == (3, 3)


def test_a_truncated_gzip_is_an_error_naming_the_file(cli_env: Path, tmp_path: Path) -> None:
    lines = [format_line("nginx", r) for r in outage_log(minutes=5, per_minute=50)]
    whole = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "access.log.gz"
    path.write_bytes(whole[: len(whole) // 2])
    result = CliRunner().invoke(app, ["replay", str(path), "--dry-run"])
    assert result.exit_code == 1
    assert _flat(f"{path} is truncated or corrupt") in _flat(result.output)


@pytest.mark.parametrize(
    ("latency", "reason"),
    [
        ("1e999s", "latency inf ms is not between 0 and a day"),
        ("infs", "latency inf ms is not between 0 and a day"),
        ("nans", "latency nan ms is not between 0 and a day"),
        ("-5s", "latency -5,000 ms is not between 0 and a day"),
    ],
    ids=["overflow", "inf", "nan", "negative"],
)
def test_a_cloud_logging_latency_that_is_no_duration_rejects_its_line_only(
    latency: str, reason: str
) -> None:
    # 1e999s crashed the replay in the sketch, minutes after earlier rollups were written;
    # nans read as 0 ms and -5s pulled P50 below zero.
    lines = [format_line("gcp", r, n=n) for n, r in enumerate(outage_log(3, 10))]
    clean = _aggregate(lines, "gcp")
    lines[15] = lines[15].replace(json.loads(lines[15])["httpRequest"]["latency"], latency)

    aggregator = _aggregate(lines, "gcp")

    assert aggregator.stats.rejected_lines == [(16, reason)]
    assert (aggregator.stats.parsed, aggregator.requests) == (29, 29)
    assert [m.requests for m in aggregator.minutes] == [10, 9, 10]
    assert aggregator.sketch.count == 29
    assert aggregator.sketch.get_quantile_value(0.0) == clean.sketch.get_quantile_value(0.0)
    assert aggregator.sketch.get_quantile_value(0.0) > 0


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_rejects_a_latency_over_a_day(name: str) -> None:
    parse = make_parser(name)
    day_ms = 86_400_000.0

    assert parse(format_line(name, Request(T0, "GET", "/a", 200, day_ms))) == Request(
        T0, "GET", "/a", 200, day_ms
    )
    with pytest.raises(Malformed, match=r"^latency 86,400,002 ms is not between 0 and a day$"):
        parse(format_line(name, Request(T0, "GET", "/a", 200, day_ms + 2)))


def _line(fmt: str, status: int = 200, latency: float = 87.0) -> str:
    return format_line(fmt, Request(T0, "GET", "/a", status, latency))


# Each value reached an int() or float() unguarded (a crash), or came out as a wrong number.
HOSTILE_FIELDS = [
    pytest.param(
        "alb",
        _line("alb").replace(" 0.000 0.087 ", " 0.0.1 0.087 "),
        "timer '0.0.1' is not a number of seconds",
        id="alb-timer-two-dots",
    ),
    pytest.param(
        "alb",
        _line("alb").replace(" 0.087 0.000 ", " 0.087 . "),
        "timer '.' is not a number of seconds",
        id="alb-timer-dot",
    ),
    pytest.param(
        "alb",
        _line("alb").replace("09:00:01.000000Z", "09:00:01.Z", 1),
        "unreadable fraction of a second in '2026-02-23T09:00:01.Z'",
        id="alb-time-bare-dot",
    ),
    pytest.param(
        "gcp",
        _line("gcp").replace('"status":200', '"status":99999'),
        "status 99999 is not an HTTP status (100 to 599)",
        id="gcp-status-99999",
    ),
    pytest.param(
        "gcp",
        _line("gcp").replace('"status":200', '"status":-3'),
        "status -3 is not an HTTP status (100 to 599)",
        id="gcp-status-negative",
    ),
    pytest.param(
        "gcp",
        _line("gcp").replace('"status":200', '"status":true'),
        "status True is not an integer",
        id="gcp-status-bool",
    ),
    pytest.param(
        "gcp",
        _line("gcp").replace('"status":200', '"status":1.9'),
        "status 1.9 is not an integer",
        id="gcp-status-float",
    ),
    pytest.param(
        "gcp",
        _line("gcp").replace(".000000000Z", "+99:99"),
        "bad time zone offset '+99:99'",
        id="gcp-offset-out-of-range",
    ),
    pytest.param(
        "nginx",
        _line("nginx").replace(" 200 512 ", " 000 512 "),
        "status 0 is not an HTTP status (100 to 599)",
        id="nginx-status-000",
    ),
    pytest.param(
        "nginx",
        _line("nginx").replace(":01 +0000]", ":01. +0000]"),
        "unreadable fraction of a second in '23/Feb/2026:09:00:01. +0000'",
        id="nginx-time-bare-dot",
    ),
    pytest.param(
        "nginx",
        _line("nginx").replace(":01 +0000]", ":01.\u00b2 +0000]"),
        "unreadable fraction of a second in '23/Feb/2026:09:00:01.\u00b2 +0000'",
        id="nginx-time-superscript",
    ),
    pytest.param(
        "haproxy",
        _line("haproxy").replace(" 200 2750 ", " 9999 2750 "),
        "status 9999 is not an HTTP status (100 to 599)",
        id="haproxy-status-9999",
    ),
    pytest.param(
        "heroku",
        _line("heroku").replace("status=200", "status=\u00b200"),
        "router line with unreadable status or timers",
        id="heroku-status-superscript",
    ),
    pytest.param(
        "heroku",
        _line("heroku").replace(":01.000000+00:00", ":01.+00:00"),
        "unreadable fraction of a second in '2026-02-23T09:00:01.+00:00'",
        id="heroku-time-bare-dot",
    ),
]


@pytest.mark.parametrize(("fmt", "line", "reason"), HOSTILE_FIELDS)
def test_a_field_that_is_no_number_rejects_the_line_with_its_value(
    fmt: str, line: str, reason: str
) -> None:
    with pytest.raises(Malformed) as rejected:
        make_parser(fmt)(line)
    assert str(rejected.value) == reason


def test_an_alb_timer_with_two_dots_rejects_its_line_and_the_rest_is_replayed() -> None:
    # It crashed the replay: "-?[\d.]+" let it through to a float() outside Malformed.
    lines = [format_line("alb", r, n=n) for n, r in enumerate(outage_log(3, 10))]
    lines[14] = lines[14].replace(" 0.000 ", " 0.0.1 ", 1)

    aggregator = _aggregate(lines, "alb")

    assert aggregator.stats.rejected_lines == [(15, "timer '0.0.1' is not a number of seconds")]
    assert [m.requests for m in aggregator.minutes] == [10, 9, 10]


def test_a_gcp_status_written_as_digits_is_still_read() -> None:
    line = _line("gcp", status=503).replace('"status":503', '"status":"503"')
    assert make_parser("gcp")(line) == Request(T0, "GET", "/a", 503, 87.0)


@pytest.mark.parametrize("token", ["1e5", "0.1.2", "1.5e3"])
def test_an_nginx_trailing_token_that_is_no_time_gives_no_latency(token: str) -> None:
    # Reported read as 0.001 ms and 100 ms; a request time is a whole token of digits.
    line = _line("nginx").replace(" 0.087", f" {token}")
    assert make_parser("nginx")(line) == Request(T0, "GET", "/a", 200, None)


def test_a_conversion_a_parser_leaves_unguarded_costs_its_line_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def careless(tz: object) -> Callable[[str], Request]:
        return lambda line: Request(T0, "GET", "/", 200, float(line))

    monkeypatch.setitem(FORMATS, "careless", careless)

    aggregator = _aggregate(["12", "0.0.1", "x" * 500, "30"], "careless")

    assert aggregator.stats.rejected_lines == [
        (2, "unreadable value (could not convert string to float: '0.0.1')"),
        (3, f"unreadable value (could not convert string to float: '{'x' * 44})"),
    ]
    assert aggregator.requests == 2


REPLAYED_AT = LOG_START + timedelta(hours=1)  # the clock a replay of LOG_START's log runs at


def _clf(when: datetime) -> str:
    # %Y writes year 1 as "1", which CLF has no room for.
    stamp = f"{when:%d/%b}/{when.year:04d}:{when:%H:%M:%S}"
    return _line("nginx").replace("23/Feb/2026:09:00:01", stamp)


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        (datetime(1990, 1, 1, tzinfo=UTC), None),
        (datetime(1989, 12, 31, 23, 59, 59, tzinfo=UTC), "time 1989-12-31 is before 1990"),
        (datetime(1970, 1, 1, tzinfo=UTC), "time 1970-01-01 is before 1990"),
        (datetime(1, 1, 1, tzinfo=UTC), "time 0001-01-01 is before 1990"),
        (REPLAYED_AT + timedelta(days=1), None),
        (
            REPLAYED_AT + timedelta(days=1, seconds=1),
            "time 2026-02-24 is more than a day in the future",
        ),
        (datetime(9999, 12, 31, tzinfo=UTC), "time 9999-12-31 is more than a day in the future"),
    ],
    ids=["1990", "1989", "epoch-0", "year-1", "a-day-ahead", "past-a-day-ahead", "year-9999"],
)
def test_a_time_outside_1990_to_a_day_past_the_clock_rejects_its_line(
    when: datetime, reason: str | None
) -> None:
    parse = make_parser("nginx", now=REPLAYED_AT)
    if reason is None:
        assert parse(_clf(when)) == Request(when.timestamp(), "GET", "/a", 200, 87.0)
    else:
        with pytest.raises(Malformed) as rejected:
            parse(_clf(when))
        assert str(rejected.value) == reason


def test_a_time_past_year_9999_in_its_own_zone_is_rejected_without_a_crash() -> None:
    line = _line("gcp").replace("2026-02-23T09:00:01.000000000Z", "9999-12-31T23:59:59-01:00")
    with pytest.raises(Malformed) as rejected:
        make_parser("gcp", now=REPLAYED_AT)(line)
    assert str(rejected.value) == "time after 9999-12-31 is more than a day in the future"


def test_far_off_lines_are_rejected_and_the_replay_uses_the_injected_clock(
    settings: Settings, cli_env: Path, write: Callable[..., Path]
) -> None:
    # One line dated 9999 or 0001 made the replay evaluate every minute in between.
    lines = [format_line("nginx", r, n=n) for n, r in enumerate(outage_log(3, 10))]
    lines.insert(12, _clf(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)))
    lines.insert(20, _clf(datetime(1, 1, 1, tzinfo=UTC)))
    # Two days after the log: fine by the wall clock, too late by the replay's clock.
    lines.append(_clf(LOG_START + timedelta(days=2)))
    live = settings.model_copy(update={"alerts_file": cli_env})

    summary = replay_file(
        live,
        write("nginx", lines=lines),
        ReplayOptions(dry_run=True),
        clock=ManualClock(REPLAYED_AT),
    )

    assert summary.rejected_lines == [
        (13, "time 9999-12-31 is more than a day in the future"),
        (21, "time 0001-01-01 is before 1990"),
        (33, "time 2026-02-25 is more than a day in the future"),
    ]
    assert (summary.requests, summary.evaluations) == (30, 3)
    assert (summary.first_minute, summary.last_minute) == (
        LOG_START,
        LOG_START + timedelta(minutes=2),
    )


def _minute_of(when: datetime) -> int:
    return int(when.timestamp()) // 60


def test_a_ten_year_gap_closes_a_day_of_quiet_minutes_then_skips_in_flat_memory() -> None:
    # Closed one by one, the 5.3 million empty minutes took 51 s and 684 MB here alone.
    ten_years_ago = LOG_START - timedelta(days=3653)
    requests = [
        Request(ten_years_ago.timestamp(), "GET", "/a", 200, 5.0),
        Request(LOG_START.timestamp() - 300.0, "GET", "/a", 200, 7.0),
        Request(LOG_START.timestamp() + 1.0, "GET", "/a", 503, 9.0),
    ]
    aggregator = Aggregator(horizon_minutes=5)
    began = time.perf_counter()
    tracemalloc.start()

    for lineno, request in enumerate(requests, 1):
        aggregator.add(request, lineno)
    aggregator.finish()

    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.perf_counter() - began < 1.0
    assert peak < 2_000_000
    first, last = _minute_of(ten_years_ago), _minute_of(LOG_START)
    # The 5-minute horizon closes the gap in two steps (up to the second line, then on to
    # the third); it is still one gap.
    assert aggregator.gaps == [QuietGap(first + 1, first + 1 + 1440, last - 5)]
    assert aggregator.skipped_minutes == last - 5 - (first + 1 + 1440)
    assert len(aggregator.minutes) == 1 + 1440 + 6
    assert [m.requests for m in aggregator.minutes if m.requests] == [1, 1, 1]
    assert (aggregator.requests, aggregator.errors) == (3, 1)
    summary = summarise(aggregator, path="access.log", fmt="nginx")
    assert (summary.first_minute, summary.last_minute) == (
        datetime.fromtimestamp(first * 60, UTC),
        LOG_START,
    )
    assert summary.median_rpm == 0.0
    assert summary.quiet_minutes_skipped == 5_258_874
    assert summary.warnings == [
        "no requests from 2016-02-23 09:01Z to 2026-02-23 08:55Z: after 1,440 quiet minutes "
        "the replay skipped 5,258,874 (not evaluated) to the next request"
    ]


def test_the_median_counts_skipped_minutes_as_minutes_without_requests() -> None:
    aggregator = Aggregator(quiet_minutes=1)
    for minute, count in ((0, 4), (1, 6), (5, 8)):
        for _ in range(count):
            aggregator.add(Request(minute * 60.0, "GET", "/", 200, None))
    aggregator.finish()

    summary = summarise(aggregator, path="access.log", fmt="nginx")

    assert [m.requests for m in aggregator.minutes] == [4, 6, 0, 8]
    assert aggregator.skipped_minutes == 2
    assert summary.median_rpm == 2.0  # of 0, 0, 0, 4, 6, 8


QUIET_NIGHT_RULES = (
    ALERT_RULES
    + """
      - name: api_error_ratio_no_data_resolves
        condition: ratio(api_errors[1m], api_requests[1m]) > 0.5 for 2m
        no_data: resolve
"""
)


def test_a_three_hour_quiet_night_is_evaluated_minute_by_minute(
    settings: Settings, tmp_path: Path, write: Callable[..., Path]
) -> None:
    # An outage in minutes 8 to 10, then nothing until 12:00, then healthy traffic.
    rules = tmp_path / "alerts.yaml"
    rules.write_text(QUIET_NIGHT_RULES)
    morning = LOG_START + timedelta(hours=3)
    requests = [*outage_log(11, 10), *demo_requests(morning, 3, 10)]
    live = settings.model_copy(update={"alerts_file": rules})

    summary = replay_file(
        live,
        write("nginx", requests),
        ReplayOptions(dry_run=True),
        clock=ManualClock(morning + timedelta(hours=1)),
    )

    assert summary.evaluations == 183
    assert (summary.quiet_minutes_skipped, summary.warnings) == (0, [])
    assert [(a.rule, a.fired_at, a.resolved_at) for a in summary.alerts] == [
        (
            "api_error_ratio_high",  # no_data: keep, so it fires through the night
            LOG_START + timedelta(minutes=11),
            morning + timedelta(minutes=1),
        ),
        (
            "api_error_ratio_no_data_resolves",
            LOG_START + timedelta(minutes=11),
            LOG_START + timedelta(minutes=12),
        ),
    ]


@pytest.mark.parametrize(
    ("rules_text", "quiet"),
    [
        (ALERT_RULES, 60),  # the incidents' quiet period is longer than 1m + for 2m
        (ALERT_RULES.replace("for 2m", "for 2h"), 121),
        (
            ALERT_RULES.replace(
                "        annotations:", "        keep_firing_for: 90m\n        annotations:"
            ),
            93,
        ),
    ],
    ids=["incident-quiet-period", "for", "keep-firing-for"],
)
def test_a_ten_year_gap_is_evaluated_as_long_as_rules_and_incidents_need_then_skipped(
    settings: Settings, tmp_path: Path, write: Callable[..., Path], rules_text: str, quiet: int
) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(rules_text)
    ten_years_ago = LOG_START - timedelta(days=3653)
    requests = [*demo_requests(ten_years_ago, 3, 10), *demo_requests(LOG_START, 3, 10)]
    live = settings.model_copy(update={"alerts_file": rules})

    summary = replay_file(
        live,
        write("nginx", requests),
        ReplayOptions(dry_run=True, quiet_minutes=0),
        clock=ManualClock(REPLAYED_AT),
    )

    gap = 3653 * 1440 - 3
    assert (summary.quiet_minutes, summary.evaluations) == (quiet, 3 + quiet + 3)
    assert summary.quiet_minutes_skipped == gap - quiet
    assert summary.warnings == [
        "no requests from 2016-02-23 09:03Z to 2026-02-23 09:00Z: after "
        f"{quiet} quiet minutes the replay skipped {gap - quiet:,} (not evaluated) to the "
        "next request"
    ]
    assert summary.requests == 60
