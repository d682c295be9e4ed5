"""Write request logs in every supported format, for tests, benchmarks and the walkthrough.

``demo_requests`` makes a deterministic stream of requests with a known number per minute
and an optional outage (a run of minutes where a share of requests fail with 503);
``write_log`` renders requests as lines of one format, the way the real software writes
them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, tzinfo
from typing import TextIO

from monitoring.replay.model import Request

__all__ = ["ENDPOINTS", "demo_requests", "format_line", "write_log"]

ENDPOINTS = ("/api/items", "/api/items/{id}", "/api/users/{id}/profile", "/api/search", "/")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def demo_requests(
    start: datetime,
    minutes: int,
    per_minute: int,
    *,
    outage_start: int | None = None,
    outage_minutes: int = 0,
    outage_error_ratio: float = 0.6,
    seed: int = 7,
) -> Iterator[Request]:
    """Yield ``per_minute`` requests in each of ``minutes`` minutes from ``start``, in order.

    Outside the outage no request fails with a 5xx; inside it exactly
    ``round(per_minute * outage_error_ratio)`` requests of each minute return 503. Latencies
    are whole milliseconds, so every format (some keep only milliseconds) writes them exactly.
    """
    rng = random.Random(seed)
    base = start.timestamp() // 60 * 60
    for index in range(minutes):
        in_outage = outage_start is not None and outage_start <= index < outage_start + (
            outage_minutes
        )
        failing = round(per_minute * outage_error_ratio) if in_outage else 0
        for n in range(per_minute):
            at = base + index * 60 + (n * 60.0 / per_minute) + rng.random() * 0.001
            template = ENDPOINTS[rng.randrange(len(ENDPOINTS))]
            path = template.replace("{id}", str(rng.randrange(1, 10_000)))
            if rng.random() < 0.2:
                path += f"?page={rng.randrange(1, 9)}"
            method = "POST" if template == "/api/items" and rng.random() < 0.3 else "GET"
            if n < failing:
                status, latency = 503, float(rng.randrange(800, 3000))
            else:
                status = 404 if rng.random() < 0.03 else 200
                latency = float(int(rng.lognormvariate(3.5, 0.6)) + 1)
            yield Request(at, method, path, status, latency)


def _clf_time(at: float, tz: tzinfo | None, *, millis: bool = False, zone: bool = True) -> str:
    moment = datetime.fromtimestamp(at, tz or UTC)
    text = f"{moment.day:02d}/{_MONTHS[moment.month - 1]}/{moment.year}:{moment:%H:%M:%S}"
    if millis:
        text += f".{moment.microsecond // 1000:03d}"
    if zone:
        text += " " + moment.strftime("%z")
    return text


def _iso(at: float, digits: int = 6, zone: str = "Z") -> str:
    moment = datetime.fromtimestamp(at, UTC)
    fraction = f"{moment.microsecond:06d}".ljust(digits, "0")[:digits]
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{fraction}{zone}"


def format_line(fmt: str, request: Request, tz: tzinfo | None = None, n: int = 0) -> str:
    """Return ``request`` as one line of format ``fmt`` (without the newline)."""
    at, method, path, status, latency = request
    ms = latency or 0.0
    client = f"203.0.113.{n % 250 + 1}"
    if fmt == "nginx":
        return (
            f'{client} - - [{_clf_time(at, tz)}] "{method} {path} HTTP/1.1" {status} 512 '
            f'"https://app.example.com/" "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0" '
            f"{ms / 1000:.3f}"
        )
    if fmt == "apache":
        return (
            f'{client} - frank [{_clf_time(at, tz)}] "{method} {path} HTTP/1.1" {status} 2326 '
            f'"-" "curl/8.5.0" {int(ms * 1000)}'
        )
    if fmt == "gcp":
        entry = {
            "httpRequest": {
                "requestMethod": method,
                "requestUrl": f"https://api-7c2d-uc.a.run.app{path}",
                "status": status,
                "responseSize": "512",
                "userAgent": "okhttp/4.12.0",
                "remoteIp": client,
                "latency": f"{ms / 1000:.6f}s",
                "protocol": "HTTP/1.1",
            },
            "insertId": f"{n:012x}",
            "logName": "projects/demo/logs/run.googleapis.com%2Frequests",
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": "api"}},
            "severity": "ERROR" if status >= 500 else "INFO",
            "timestamp": _iso(at, 9),
            "receiveTimestamp": _iso(at + 0.2, 9),
        }
        return json.dumps(entry, separators=(",", ":"))
    if fmt == "alb":
        return (
            f"https {_iso(at)} app/web-lb/50dc6c495c0c9188 {client}:2817 10.0.0.1:80 "
            f"0.000 {ms / 1000:.3f} 0.000 {status} {status} 34 366 "
            f'"{method} https://api.example.com:443{path} HTTP/1.1" "curl/8.5.0" '
            "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 "
            "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web/73e2d6bc24d8a067"
            f' "Root=1-58337262-36d228ad5d99923122bbe{n:03d}" "api.example.com" '
            f'"arn:aws:acm:us-east-2:123456789012:certificate/12345678" 0 {_iso(at - ms / 1000)} '
            f'"forward" "-" "-" "10.0.0.1:80" "{status}" "-" "-"'
        )
    if fmt == "haproxy":
        moment = datetime.fromtimestamp(at, tz or UTC)
        syslog = f"{_MONTHS[moment.month - 1]} {moment.day:2d} {moment:%H:%M:%S}"
        total = int(ms)
        return (
            f"{syslog} lb1 haproxy[14389]: {client}:{33000 + n % 2000} "
            f"[{_clf_time(at, tz, millis=True, zone=False)}] http-in~ api/srv{n % 3 + 1} "
            f"0/0/1/{max(total - 1, 0)}/{total} {status} 2750 - - ---- 12/12/3/1/0 0/0 "
            f'"{method} {path} HTTP/1.1"'
        )
    if fmt == "heroku":
        total = int(ms)
        return (
            f"{_iso(at, 6, '+00:00')} heroku[router]: at={'error' if status >= 500 else 'info'} "
            f'method={method} path="{path}" host=demo-app.herokuapp.com '
            f'request_id=8601b555-6a76-4c8a-a1b0-{n:012d} fwd="{client}" dyno=web.1 '
            f"connect=1ms service={max(total - 1, 0)}ms status={status} bytes=1548 "
            "protocol=https"
        )
    raise ValueError(f"unknown format {fmt!r}")


def write_log(out: TextIO, fmt: str, requests: Iterable[Request], tz: tzinfo | None = None) -> int:
    """Write ``requests`` to ``out`` as lines of ``fmt``; return the number written."""
    count = 0
    for count, request in enumerate(requests, 1):
        out.write(format_line(fmt, request, tz, count))
        out.write("\n")
    return count
