"""Log line parsers, one per format, and format detection.

Each parser turns one line into a ``Request``, returns None for a line that is valid in its
format but is not a request (an application log entry among Cloud Logging request entries, a
Heroku dyno message, HAProxy's start-up notices), or raises ``Malformed`` for a line it
cannot read. Regexes are compiled once; timestamps go through the per-second caches of
``timeparse``. ``make_parser`` applies the checks every format shares (``_check``) to what
each parser returns, so a new format cannot forget them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, tzinfo

from monitoring.replay.model import Malformed, ReplayInputError, Request
from monitoring.replay.timeparse import ClfClock, IsoClock

__all__ = ["EARLIEST", "FORMATS", "MAX_LATENCY_MS", "Parser", "detect_format", "make_parser"]

Parser = Callable[[str], Request | None]

# A day: no HTTP server, balancer or proxy we read keeps a request open longer, and a bound
# keeps a "1e300s" out of the quantile sketch, which reports in finite buckets.
MAX_LATENCY_MS = 86_400_000.0
# No HTTP request log predates the web (1990), and a time 0 from an unset clock reads 1970.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
# How far past the replay's clock a line may be: a wrong --tz shifts by up to 14 hours.
FUTURE_SLACK_S = 86_400.0


def _split_request(request: str) -> tuple[str, str]:
    """Return (method, path) of "GET /a?b HTTP/1.1"; ("-", "-") when there is no request
    line (nginx logs "-" or raw bytes for connections that never sent one).

    A target in absolute form ("GET https://host/a HTTP/2.0") gives its path: HAProxy 2.1+
    logs every HTTP/2 request so, and proxy probes reach nginx so; kept whole, each host
    would be an endpoint of its own, apart from the same path over HTTP/1.1.
    """
    parts = request.split(" ")
    if len(parts) >= 2 and parts[0].isalpha():
        return parts[0].upper(), _path_of_url(parts[1])
    return "-", "-"


def _path_of_url(url: str) -> str:
    """Return the path and query of an absolute URL, or ``url`` if it is a path already."""
    if url.startswith("/"):
        return url
    scheme_end = url.find("://")
    if scheme_end < 0:
        return url or "/"
    slash = url.find("/", scheme_end + 3)
    return url[slash:] if slash >= 0 else "/"


# --- nginx / Apache combined -------------------------------------------------------------

# host ident user [time] "request" status bytes ["referer" "user agent" ["more"...]]
# [request time]. The optional trailing field is nginx's $request_time (seconds with a dot,
# "0.123") or Apache's %D (whole microseconds, "123456"); ``rt=``/``request_time=`` prefixes
# are accepted. Further quoted fields are skipped: nginx's stock ``main`` format (nginx.conf
# of its packages and Docker image) ends with "$http_x_forwarded_for", and its "198.51.100.20"
# must not read as 198.51 s. Hence the time is a whole token, and a quoted field is skipped
# only if it is not a quoted time.
_QUOTED = r'"[^"\\]*(?:\\.[^"\\]*)*"'  # unrolled: far faster than (?:[^"\\]|\\.)*
_ELAPSED = r'"?(?:rt=|request_time=)?(\d+(?:\.\d+)?)"?(?!\S)'
_COMBINED = re.compile(
    r'\S+ \S+ (?:\S+|"[^"]*") \[([^\]]+)\] "([^"\\]*(?:\\.[^"\\]*)*)" (\d{3}) \S+'
    rf'(?: {_QUOTED} {_QUOTED}(?: (?!"\d+(?:\.\d+)?"(?!\S)){_QUOTED})*)?'
    rf"(?:\s+{_ELAPSED})?"
)


def _combined(tz: tzinfo | None) -> Parser:
    clock = ClfClock(tz)
    match = _COMBINED.match

    def parse(line: str) -> Request | None:
        found = match(line)
        if found is None:
            raise Malformed("not a combined log line")
        when, request, status, elapsed = found.groups()
        method, path = _split_request(request)
        latency = None
        if elapsed is not None:
            latency = float(elapsed) * 1000.0 if "." in elapsed else int(elapsed) / 1000.0
        return Request(clock(when), method, path, int(status), latency)

    return parse


# --- Google Cloud Logging (Cloud Functions, Cloud Run, load balancers) -------------------


def _gcp(tz: tzinfo | None) -> Parser:
    clock = IsoClock(tz)
    loads = json.loads

    def parse(line: str) -> Request | None:
        if line[:1] != "{":
            raise Malformed("not a JSON object")
        if '"httpRequest"' not in line:
            # An application log entry: valid, not a request. Checked before decoding
            # because most lines of a mixed export are of this kind.
            try:
                loads(line)
            except ValueError:
                raise Malformed("not valid JSON") from None
            return None
        try:
            entry = loads(line)
            http = entry["httpRequest"]
            status = http.get("status")
            if status is None:
                return None  # the client went away before any response was sent
            latency_text = http.get("latency")
            latency = None
            if latency_text:
                latency = float(latency_text.rstrip("s")) * 1000.0
            method = (http.get("requestMethod") or "-").upper()
            path = _path_of_url(http.get("requestUrl") or "-")
            return Request(clock(entry["timestamp"]), method, path, _gcp_status(status), latency)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise Malformed(f"not a Cloud Logging request entry ({type(error).__name__})") from None

    return parse


def _gcp_status(value: object) -> int:
    """Return ``httpRequest.status``: a JSON integer, or its digits as a string.

    int() also took true (a bool is an int in Python) and truncated 1.9 to 1.
    """
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if type(value) is not int:
        raise Malformed(f"status {value!r} is not an integer")
    return value


# --- AWS Application (and classic) Load Balancer -----------------------------------------

# ALB: type time elb client target t_request t_target t_response elb_status target_status
# received sent "request" ...; classic ELB has the same fields without the leading type.
# ``time`` is when the balancer sent the response; requests are bucketed by it, as Athena
# and CloudWatch do.
_ALB = re.compile(
    r"(?:[a-z0-9]+ )?(\d{4}-\d\d-\d\dT\S+) \S+ \S+ \S+ (-?[\d.]+) (-?[\d.]+) (-?[\d.]+) "
    r'(\d{3}|-) \S+ \d+ \d+ "([^"]*)"'
)


def _alb(tz: tzinfo | None) -> Parser:
    clock = IsoClock(tz)
    match = _ALB.match

    def parse(line: str) -> Request | None:
        found = match(line)
        if found is None:
            raise Malformed("not a load balancer log line")
        when, t_request, t_target, t_response, status, request = found.groups()
        if status == "-":
            return None  # no response reached the client (connection closed early)
        times = (_alb_seconds(t_request), _alb_seconds(t_target), _alb_seconds(t_response))
        # -1 marks a timer that never ran (target unreachable, client gone).
        latency = None if min(times) < 0 else sum(times) * 1000.0
        method, path = _split_request(request)
        return Request(clock(when), method, path, int(status), latency)

    return parse


_SECONDS = re.compile(r"-?\d+(?:\.\d+)?")


def _alb_seconds(text: str) -> float:
    """Return a timer field ("0.000073", "-1") as seconds.

    The line pattern takes any run of digits and dots, so that a field such as "0.0.1" is
    rejected here with its value rather than as an unrecognised line.
    """
    if _SECONDS.fullmatch(text) is None:
        raise Malformed(f"timer {text!r} is not a number of seconds")
    return float(text)


# --- HAProxy HTTP log format -------------------------------------------------------------

# After any syslog prefix: client:port [accept date] frontend backend/server
# TR/Tw/Tc/Tr/Ta status bytes ... "request". The accept date has no zone (read in --tz);
# the last timer (Ta, or Tt before 1.8; "+" with logasap) is the request's total time.
# The client field must start a token: unanchored, ``\S+`` would be retried from every offset
# of a long hostile line, which is quadratic (a 100 KB line took 46 s).
_HAPROXY = re.compile(
    r"(?<!\S)\S+:\d+ \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d(?:\.\d+)?)\] \S+ \S+ "
    r'-?\d+/-?\d+/-?\d+/-?\d+/\+?(-?\d+) (-?\d+) [^"]*"([^"]*)"'
)
# HAProxy's other documented per-connection lines, valid but not HTTP requests: the TCP log
# format ("fnt bck/srv1 0/0/5007 212 --", three timers) of a mode tcp frontend sharing the
# file, and the error log format ("frt/f1: SSL handshake failure"), which TLS scanners make
# common. Counted as malformed, they buried the lines that really are.
_HAPROXY_NOT_HTTP = re.compile(
    r"(?<!\S)\S+:\d+ \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d(?:\.\d+)?\] "
    r"(?:\S+: |\S+ \S+ -?\d+/-?\d+/\+?-?\d+ )"
)


def _haproxy(tz: tzinfo | None) -> Parser:
    clock = ClfClock(tz)
    search = _HAPROXY.search
    not_http = _HAPROXY_NOT_HTTP.search

    def parse(line: str) -> Request | None:
        found = search(line)
        if found is None:
            if "haproxy" in line and "]: " in line and " [" not in line:
                return None  # a daemon notice ("Proxy http-in started.")
            if not_http(line) is not None:
                return None  # a TCP session or a connection error
            raise Malformed("not an HAProxy HTTP log line")
        when, total, status, request = found.groups()
        if status == "-1":
            return None  # aborted before a status existed
        latency = float(total) if total[0] != "-" else None
        method, path = _split_request(request)
        return Request(clock(when), method, path, int(status), latency)

    return parse


# --- Heroku router ----------------------------------------------------------------------

# "2026-03-02T12:00:01.123456+00:00 heroku[router]: at=info method=GET path="/a" ...
#  connect=1ms service=12ms status=200 ..." as printed by `heroku logs`, or behind a logplex
# drain's RFC 5424 prefix "<158>1 2026-...+00:00 host heroku router - at=info ...". An HTTPS
# drain's request body frames each message with its length in octets ("332 <158>1 ..."), so
# a file of saved drain bodies starts every line with that count.
_HEROKU_PREFIX = re.compile(
    r"(?:(?:\d+ )?<\d+>\d+ )?(\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d)?) "
)
_HEROKU_ROUTER = re.compile(
    r'method=(\S+) path="?([^" ]*)"?.*? connect=(\d+)ms service=(\d+)ms status=(\d+)'
)
_KEY_VALUE = re.compile(r'(\w+)=("[^"]*"|\S+)')


def _heroku(tz: tzinfo | None) -> Parser:
    clock = IsoClock(tz)
    prefix = _HEROKU_PREFIX.match
    router = _HEROKU_ROUTER.search

    def parse(line: str) -> Request | None:
        head = prefix(line)
        if head is None:
            raise Malformed("no Heroku/logplex timestamp")
        if "router" not in line[head.end() : head.end() + 80]:
            return None  # an app or dyno message in the same drain
        found = router(line, head.end())
        if found is not None:
            method, path, connect, service, status = found.groups()
        else:
            # Some router lines (H-codes) order or omit fields differently.
            fields = {k: v.strip('"') for k, v in _KEY_VALUE.findall(line, head.end())}
            try:
                method, path, status = fields["method"], fields["path"], fields["status"]
            except KeyError:
                raise Malformed("router line without method, path or status") from None
            connect = fields.get("connect", "0ms").removesuffix("ms")
            service = fields.get("service", "").removesuffix("ms")
            if not (_is_number(status) and _is_number(connect)):
                raise Malformed("router line with unreadable status or timers")
        latency = float(int(connect) + int(service)) if _is_number(service) else None
        return Request(clock(head.group(1)), method, path, int(status), latency)

    return parse


def _is_number(text: str) -> bool:
    """Return whether ``text`` is ASCII digits: isdigit() alone also takes "²", which int()
    refuses."""
    return text.isascii() and text.isdigit()


FORMATS: dict[str, Callable[[tzinfo | None], Parser]] = {
    "nginx": _combined,
    "apache": _combined,
    "gcp": _gcp,
    "alb": _alb,
    "haproxy": _haproxy,
    "heroku": _heroku,
}
# Detection tries the stricter formats first: every HAProxy line contains a CLF-like date,
# so a tie must not go to the looser pattern.
_DETECTION_ORDER = ("haproxy", "heroku", "alb", "gcp", "nginx")


def make_parser(name: str, tz: tzinfo | None = None, *, now: datetime | None = None) -> Parser:
    """Return the parser of format ``name``; raise ``ReplayInputError`` naming the known ones.

    What it returns raises ``Malformed`` for a line whose request fails ``_check``; a time
    more than a day after ``now`` fails it too (None: no time is too late).
    """
    try:
        factory = FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise ReplayInputError(f"unknown log format {name!r}; known formats: {known}") from None
    parse = factory(tz)
    earliest = EARLIEST.timestamp()
    latest = float("inf") if now is None else now.timestamp() + FUTURE_SLACK_S

    def checked(line: str) -> Request | None:
        try:
            request = parse(line)
        except (ValueError, ArithmeticError) as error:
            # A conversion a parser fails to guard must cost its line, not the replay.
            raise Malformed(f"unreadable value ({str(error)[:80]})") from None
        if request is not None:
            _check(request, earliest, latest)
        return request

    return checked


def _check(request: Request, earliest: float, latest: float) -> None:
    """Raise ``Malformed`` unless ``request`` holds values the aggregator can use.

    Its time must lie from ``earliest`` to ``latest``: the replay evaluates every minute
    between the oldest and newest line, so one line dated 9999 or 0001 made it run for ever.
    A status must be an HTTP status (100 to 599). A latency must be finite and between 0
    and ``MAX_LATENCY_MS``: an infinite one crashed the sketch, a NaN read as 0 ms and a
    negative one dragged the quantiles below zero.
    """
    if request.at < earliest:
        raise Malformed(f"time {_day(request.at)} is before {EARLIEST.year}")
    if request.at > latest:
        raise Malformed(f"time {_day(request.at)} is more than a day in the future")
    if not 100 <= request.status <= 599:
        raise Malformed(f"status {request.status} is not an HTTP status (100 to 599)")
    latency = request.latency_ms
    # Written so that NaN, which compares false with everything, fails too.
    if latency is not None and not 0.0 <= latency <= MAX_LATENCY_MS:
        raise Malformed(f"latency {latency:,.0f} ms is not between 0 and a day")


def _day(at: float) -> str:
    """Return the UTC day of ``at`` ("9999-12-31"), or which end of datetime's range it
    lies past ("0001-01-01T00:00:00+01:00" is in year 0)."""
    try:
        return datetime.fromtimestamp(at, UTC).date().isoformat()
    except (OverflowError, ValueError, OSError):
        return "before 0001-01-01" if at < 0 else "after 9999-12-31"


def detect_format(
    sample: Iterable[str], tz: tzinfo | None = None, *, now: datetime | None = None
) -> str:
    """Return the format that reads the most request lines of ``sample``.

    ``now`` bounds the times read as ``make_parser`` does. Raises ``ReplayInputError`` when
    no format reads a single line.
    """
    lines = [line for line in sample if line.strip()]
    if not lines:
        raise ReplayInputError("the log is empty (or only blank lines): nothing to replay")
    best, best_score = "", 0
    for name in _DETECTION_ORDER:
        parse = make_parser(name, tz, now=now)
        score = 0
        for line in lines:
            try:
                if parse(line) is not None:
                    score += 1
            except Malformed:
                pass
        if score > best_score:
            best, best_score = name, score
    if not best:
        raise ReplayInputError(
            f"could not recognise the log format from its first {len(lines)} lines; "
            f"name it with --format ({', '.join(sorted(FORMATS))})"
        )
    return best
