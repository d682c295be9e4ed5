"""Each format: a real-looking line read exactly, and a generated log replayed through the
pipeline with exact per-minute counts, error ratios, quantiles and alert timeline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitoring.config import Settings
from monitoring.kpi.query import KpiQuery, Window
from monitoring.replay.aggregate import SKETCH_RELATIVE_ACCURACY
from monitoring.replay.driver import ReplayOptions, replay_file
from monitoring.replay.formats import make_parser
from monitoring.replay.model import Malformed, Request
from monitoring.replay.synthetic import demo_requests
from monitoring.store import Collections, firestore_client
from tests.replay.conftest import ALERT_RULES, LOG_START

FORMATS = ["nginx", "apache", "gcp", "alb", "haproxy", "heroku"]
T0 = datetime(2026, 2, 23, 9, 0, 1, tzinfo=UTC).timestamp()

# Lines shaped like each product's documentation examples, not by our own writer.
REAL_LINES = [
    (
        "nginx",
        '198.51.100.23 - - [23/Feb/2026:10:00:01 +0100] "GET /api/items/42?x=1 HTTP/2.0" 200 '
        '1043 "https://app.example.com/" "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)'
        ' \\"quoted\\"" 0.087',
        Request(T0, "GET", "/api/items/42?x=1", 200, 87.0),
    ),
    (
        "nginx",  # no request time: latency unknown, still a request
        '198.51.100.23 - - [23/Feb/2026:09:00:01 +0000] "POST /login HTTP/1.1" 502 157 "-" "-"',
        Request(T0, "POST", "/login", 502, None),
    ),
    (
        "nginx",  # the stock "main" format of nginx.conf: an IPv4 X-Forwarded-For is no time
        '203.0.113.7 - - [23/Feb/2026:09:00:01 +0000] "GET /index.html HTTP/1.1" 200 612 "-" '
        '"curl/8.5.0" "198.51.100.20"',
        Request(T0, "GET", "/index.html", 200, None),
    ),
    (
        "nginx",  # "main" with $request_time appended after the X-Forwarded-For
        '203.0.113.7 - - [23/Feb/2026:09:00:01 +0000] "GET /index.html HTTP/1.1" 200 612 "-" '
        '"curl/8.5.0" "198.51.100.20, 10.0.0.1" 0.004',
        Request(T0, "GET", "/index.html", 200, 4.0),
    ),
    (
        "apache",  # %D: microseconds
        '127.0.0.1 - frank [23/Feb/2026:04:00:01 -0500] "GET /apache_pb.gif HTTP/1.0" 200 2326 '
        '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)" 1532',
        Request(T0, "GET", "/apache_pb.gif", 200, 1.532),
    ),
    (
        "gcp",
        '{"httpRequest":{"requestMethod":"POST","requestUrl":"https://api-xyz-uc.a.run.app/v1/'
        'run?id=7","requestSize":"210","status":503,"responseSize":"88","userAgent":"curl/8",'
        '"remoteIp":"203.0.113.9","serverIp":"10.0.0.2","latency":"1.250321s","protocol":'
        '"HTTP/1.1"},"insertId":"65f0a1","resource":{"type":"cloud_run_revision"},'
        '"timestamp":"2026-02-23T09:00:01.000000000Z","severity":"ERROR","logName":'
        '"projects/p/logs/run.googleapis.com%2Frequests"}',
        Request(T0, "POST", "/v1/run?id=7", 503, 1250.321),
    ),
    (
        "alb",
        "h2 2026-02-23T09:00:01.000000Z app/my-loadbalancer/50dc6c495c0c9188 "
        "10.0.1.252:48160 10.0.0.66:9000 0.000 0.002 0.001 200 200 5 257 "
        '"GET https://10.0.2.105:773/?a=b HTTP/2.0" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 '
        "TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/"
        '73e2d6bc24d8a067 "Root=1-58337327-72bd00b0343d75b906739c42" "-" "-" 1 '
        '2026-02-23T09:00:00.997000Z "redirect" "https://example.com:80/" "-" "10.0.0.66:9000" '
        '"200" "-" "-"',
        Request(T0, "GET", "/?a=b", 200, 3.0),
    ),
    (
        "alb",  # classic ELB: no type field
        "2026-02-23T09:00:01.000000Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000073 "
        '0.001048 0.000057 404 404 0 29 "GET http://www.example.com:80/missing HTTP/1.1" '
        '"curl/7.38.0" - -',
        Request(T0, "GET", "/missing", 404, 1.178),
    ),
    (
        "haproxy",
        "Feb 23 09:00:01 lb1 haproxy[14389]: 10.0.1.2:33317 [23/Feb/2026:09:00:01.000] "
        'http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html '
        'HTTP/1.1"',
        Request(T0, "GET", "/index.html", 200, 109.0),
    ),
    (
        "haproxy",  # HAProxy 2.1+ logs an HTTP/2 request in absolute form (haproxy#389)
        "Feb 23 09:00:01 lb1 haproxy[812]: 198.51.100.4:51234 [23/Feb/2026:09:00:01.000] "
        "https~ minio/minio 0/0/1/1/2 403 580 - - ---- 1/1/0/0/0 0/0 "
        '"GET https://minio.example.com/api/x?y=1 HTTP/2.0"',
        Request(T0, "GET", "/api/x?y=1", 403, 2.0),
    ),
    (
        "nginx",  # an open-proxy probe: absolute form over HTTP/1.1
        '203.0.113.7 - - [23/Feb/2026:09:00:01 +0000] "GET http://example.com/ HTTP/1.1" 404 '
        '153 "-" "Mozilla/5.0"',
        Request(T0, "GET", "/", 404, None),
    ),
    (
        "haproxy",  # captured headers and a logasap "+" total
        "<134>Feb 23 09:00:01 lb1 haproxy[7]: [2001:db8::1]:4711 [23/Feb/2026:09:00:01.000] "
        "fe~ be/web2 0/0/1/-1/+4 503 212 - - SC-- 3/3/0/0/0 0/0 {example.com|curl} {} "
        '"DELETE /api/x/9 HTTP/1.1"',
        Request(T0, "DELETE", "/api/x/9", 503, 4.0),
    ),
    (
        "heroku",
        '2026-02-23T09:00:01.000000+00:00 heroku[router]: at=info method=GET path="/api/ping" '
        'host=demo.herokuapp.com request_id=2c3f fwd="203.0.113.4" dyno=web.1 connect=0ms '
        "service=12ms status=200 bytes=545 protocol=https",
        Request(T0, "GET", "/api/ping", 200, 12.0),
    ),
    (
        "heroku",  # logplex drain prefix, an H12 router error
        "<158>1 2026-02-23T09:00:01.000000+00:00 host heroku router - at=error code=H12 "
        'desc="Request timeout" method=POST path="/upload" host=demo.herokuapp.com '
        'request_id=9a fwd="1.2.3.4" dyno=web.2 connect=1ms service=30000ms status=503 '
        "bytes=0 protocol=https",
        Request(T0, "POST", "/upload", 503, 30001.0),
    ),
    (
        "heroku",  # an HTTPS drain body: octet-counted framing (Heroku Dev Center, HTTPS drains)
        "332 <158>1 2026-02-23T09:00:01.000000+00:00 host heroku router - - at=error code=H12 "
        'desc="Request timeout" method=POST path="/perfil/2234" host=aliada.mx '
        'request_id=145563d4 fwd="189.210.196.206" dyno=web.1 connect=1ms service=30000ms '
        "status=503 bytes=0",
        Request(T0, "POST", "/perfil/2234", 503, 30001.0),
    ),
    (
        "heroku",  # H10 from Heroku's error-code docs: the router leaves the timers empty
        '2026-02-23T09:00:01+00:00 heroku[router]: at=error code=H10 desc="App crashed" '
        'method=GET path="/" host=myapp.herokuapp.com fwd=17.17.17.17 dyno= connect= service= '
        "status=503 bytes=",
        Request(T0, "GET", "/", 503, None),
    ),
]


@pytest.mark.parametrize(
    ("fmt", "line", "expected"),
    REAL_LINES,
    ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(REAL_LINES)],
)
def test_documented_line_reads_exactly(fmt: str, line: str, expected: Request) -> None:
    got = make_parser(fmt)(line)

    assert got is not None
    assert got.at == pytest.approx(expected.at, abs=1e-6)
    assert got[1:4] == expected[1:4]
    if expected.latency_ms is None:
        assert got.latency_ms is None
    else:
        assert got.latency_ms == pytest.approx(expected.latency_ms, rel=1e-9)


@pytest.mark.parametrize(
    ("fmt", "line"),
    [
        (
            "gcp",
            '{"severity":"INFO","textPayload":"worker started","timestamp":"2026-02-23T09:00:01Z"}',
        ),
        ("heroku", "2026-02-23T09:00:01.000000+00:00 app[web.1]: listening on 8080"),
        ("heroku", "2026-02-23T09:00:01+00:00 heroku[web.1]: State changed from starting to up"),
        ("haproxy", "Feb 23 09:00:01 lb1 haproxy[14389]: Proxy http-in started."),
        (  # HAProxy configuration manual, "TCP log format" example
            "haproxy",
            "Feb  6 12:12:56 localhost haproxy[14387]: 10.0.1.2:33313 "
            "[06/Feb/2009:12:12:51.443] fnt bck/srv1 0/0/5007 212 -- 0/0/0/0/3 0/0",
        ),
        (  # HAProxy configuration manual, "Error log format" example
            "haproxy",
            "Dec  3 18:27:14 localhost haproxy[6103]: 127.0.0.1:56059 "
            "[03/Dec/2012:17:35:10.380] frt/f1: Connection error during SSL handshake",
        ),
    ],
    ids=[
        "gcp-app-entry",
        "heroku-app",
        "heroku-dyno",
        "haproxy-notice",
        "haproxy-tcp",
        "haproxy-tls",
    ],
)
def test_non_request_lines_are_skipped_not_rejected(fmt: str, line: str) -> None:
    assert make_parser(fmt)(line) is None


def test_an_haproxy_http_line_cut_short_is_still_rejected() -> None:
    # Skipping TCP and error lines must not swallow HTTP lines that lost their end or a timer.
    head = "Feb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] "
    parse = make_parser("haproxy")
    for rest in (
        'http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.h',
        'http-in static/srv1 10/0/30/69 200 2750 - - ---- 1/1/1/1/0 0/0 "GET / HTTP/1.1"',
    ):
        with pytest.raises(Malformed):
            parse(head + rest)


def _exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


@pytest.mark.parametrize("fmt", FORMATS)
def test_format_replays_with_exact_counts_quantiles_and_timeline(
    fmt: str, settings: Settings, tmp_path: Path, write: Callable[..., Path]
) -> None:
    # 12 minutes of 250 requests; minutes 3 to 7 answer 60 % 503s.
    requests = list(
        demo_requests(LOG_START, 12, 250, outage_start=3, outage_minutes=5, seed=len(fmt))
    )
    log = write(fmt, requests)
    rules = tmp_path / "alerts.yaml"
    rules.write_text(ALERT_RULES)
    replay_settings = settings.model_copy(update={"alerts_file": rules})

    summary = replay_file(replay_settings, log, ReplayOptions(dry_run=True))

    per_minute = Counter(int(r.at // 60) for r in requests)
    errors = Counter(int(r.at // 60) for r in requests if r.status >= 500)
    got = [(int(m.minute.timestamp()) // 60, m.requests, m.errors) for m in summary.minutes]
    assert got == [(m, per_minute[m], errors[m]) for m in sorted(per_minute)]
    assert [m.errors / m.requests for m in summary.minutes][2:9] == [
        0.0,
        0.6,
        0.6,
        0.6,
        0.6,
        0.6,
        0.0,
    ]
    assert (summary.lines_read, summary.lines_parsed, summary.lines_rejected) == (3000, 3000, 0)
    assert summary.error_ratio == pytest.approx(5 * 150 / 3000)
    assert (summary.peak_rpm, summary.median_rpm) == (250, 250.0)

    latencies = [r.latency_ms for r in requests if r.latency_ms is not None]
    for q, value in ((0.5, summary.p50_ms), (0.95, summary.p95_ms), (0.99, summary.p99_ms)):
        exact = _exact_quantile(latencies, q)
        assert value == pytest.approx(exact, rel=SKETCH_RELATIVE_ACCURACY), q

    # The evaluator ran once per minute; the rule needs 2 minutes above 50 %: pending at the
    # end of minute 3, firing two minutes later, resolved when minute 8 is clean.
    assert summary.evaluations == 12
    timeline = [(a.rule, a.fired_at, a.resolved_at) for a in summary.alerts]
    assert timeline == [
        ("api_error_ratio_high", LOG_START + timedelta(minutes=6), LOG_START + timedelta(minutes=9))
    ]
    assert summary.alerts[0].peak_value == pytest.approx(0.6)
    assert [n.status for n in summary.notifications] == ["firing", "resolved"]

    # The rollups written are the live ones: the same counts, read back per minute.
    window = Window(LOG_START, LOG_START + timedelta(minutes=12))
    series = KpiQuery(replay_settings).series("api_requests", "sum", window, timedelta(minutes=1))
    assert [value for _, value in series] == [float(per_minute[m]) for m in sorted(per_minute)]
    # A dry run enqueues nothing.
    assert list(firestore_client(replay_settings).collection(Collections.OUTBOX).stream()) == []
