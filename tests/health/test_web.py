"""HTTP probes against a real local server that answers well, slowly, wrongly or not at all."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitoring.config import Settings, load_settings
from monitoring.health.checks import run_checks
from monitoring.health.probes import build_checks
from monitoring.health.web import MAX_BODY_BYTES
from monitoring.localstack.catchers import HttpReceiver, Reply
from tests.conftest import START

KEY = "sk-or-v1-test-0123456789abcdef"


def _settings(**health: object) -> Settings:
    values = {"disabled": ["firestore", "storage", "auth", "functions"], **health}
    return load_settings(_env_file=None, FIREWATCH_PROJECT_ID="demo-firewatch-test", health=values)


def _run(settings: Settings):  # type: ignore[no-untyped-def]
    return run_checks(settings, START, checks=build_checks(settings, START))


def _endpoint(
    receiver: HttpReceiver, path: str = "/api/ping", **extra: object
) -> dict[str, object]:
    return {"name": "api", "url": f"{receiver.url}{path}", **extra}


def test_endpoint_answering_expected_status_is_healthy(receiver: HttpReceiver) -> None:
    receiver.script("/api/ping", Reply(200, "pong"))

    report = _run(_settings(endpoints=[_endpoint(receiver, body_contains="pong")]))

    assert report.status == "healthy"
    assert report.checks[0].details == {"status_code": 200}
    assert [r.status for r in receiver.requests("/api/ping") if r.status] == [200]


def test_endpoint_answering_500_is_unhealthy(receiver: HttpReceiver) -> None:
    receiver.script("/api/ping", Reply(500, "boom"))

    report = _run(_settings(endpoints=[_endpoint(receiver)]))

    assert report.status == "unhealthy"
    assert report.checks[0].reason == "answered 500, expected 200"


def test_endpoint_with_wrong_body_is_unhealthy(receiver: HttpReceiver) -> None:
    receiver.script("/", Reply(200, "<html>maintenance</html>"))

    report = _run(_settings(endpoints=[_endpoint(receiver, "/", body_contains="<div id=app>")]))

    assert report.checks[0].status == "unhealthy"
    assert report.checks[0].reason == "the body does not contain the expected text"


def test_expected_status_other_than_200_is_honoured(receiver: HttpReceiver) -> None:
    receiver.script("/login", Reply(302))

    report = _run(_settings(endpoints=[_endpoint(receiver, "/login", expected_status=302)]))

    assert report.status == "healthy"


def test_slow_endpoint_is_degraded(receiver: HttpReceiver) -> None:
    receiver.script("/api/ping", Reply(200, delay_s=0.3))

    report = _run(_settings(endpoints=[_endpoint(receiver, degraded_after_ms=100)]))

    assert report.status == "degraded"
    assert report.checks[0].reason.startswith("slow: ")
    assert report.checks[0].latency_ms >= 300


def test_hanging_endpoint_is_unhealthy_within_its_timeout(receiver: HttpReceiver) -> None:
    receiver.script("/api/ping", Reply(hang=True))

    began = time.perf_counter()
    report = _run(_settings(endpoints=[_endpoint(receiver, timeout_s=0.4)]))

    assert time.perf_counter() - began < 0.4 + 0.5
    assert report.status == "unhealthy"
    assert report.checks[0].reason == "no answer within 0.4 s"


def test_unreachable_endpoint_is_unhealthy() -> None:
    report = _run(_settings(endpoints=[{"name": "api", "url": "http://127.0.0.1:9/"}]))

    assert report.checks[0].reason == "connection failed"


def test_noncritical_frontend_down_only_degrades(receiver: HttpReceiver) -> None:
    receiver.script("/", Reply(503))
    receiver.script("/api/ping", Reply(200))
    endpoints = [
        _endpoint(receiver),
        {"name": "frontend", "url": f"{receiver.url}/", "critical": False},
    ]

    report = _run(_settings(endpoints=endpoints))

    assert report.component("frontend").status == "unhealthy"  # type: ignore[union-attr]
    assert report.status == "degraded"


def _llm(receiver: HttpReceiver, **extra: object) -> Settings:
    return _settings(llm_url=f"{receiver.url}/api/v1/key", llm_api_key=KEY, **extra)


def test_llm_provider_is_asked_with_the_configured_key(receiver: HttpReceiver) -> None:
    receiver.script("/api/v1/key", Reply(200, {"data": {"label": "x", "limit_remaining": 12.5}}))

    report = _run(_llm(receiver))

    assert report.component("llm").status == "healthy"  # type: ignore[union-attr]
    assert receiver.requests("/api/v1/key")[0].header("Authorization") == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("reply", "status", "reason"),
    [
        (Reply(401, {"error": "bad key"}), "unhealthy", "the provider refused the API key (401)"),
        (Reply(429), "degraded", "rate limited by the provider (429)"),
        (Reply(502), "unhealthy", "the provider answered 502"),
        (
            Reply(200, {"data": {"limit_remaining": 0}}),
            "unhealthy",
            "the API key has no credit left",
        ),
    ],
    ids=["key-refused", "rate-limited", "bad-gateway", "no-credit"],
)
def test_llm_provider_answers_map_to_statuses(receiver, reply, status, reason) -> None:
    receiver.script("/api/v1/key", reply)

    report = _run(_llm(receiver))

    llm = report.component("llm")
    assert (llm.status, llm.reason) == (status, reason)  # type: ignore[union-attr]
    assert KEY not in report.model_dump_json()


def test_llm_down_is_not_critical_by_default(receiver: HttpReceiver) -> None:
    receiver.script("/api/v1/key", Reply(503))

    assert _run(_llm(receiver)).status == "degraded"


def test_llm_check_is_skipped_without_a_key() -> None:
    assert [c.name for c in build_checks(_settings(disabled=[]), START)] == [
        "firestore",
        "storage",
        "auth",
        "functions",
    ]


def test_a_huge_body_is_read_only_as_far_as_the_expected_text(receiver: HttpReceiver) -> None:
    page = "<title>App</title>" + "x" * (8 * MAX_BODY_BYTES)
    receiver.script("/", Reply(200, page))
    receiver.script("/late", Reply(200, "x" * (2 * MAX_BODY_BYTES) + "<title>"))

    report = _run(
        _settings(
            endpoints=[
                _endpoint(receiver, "/", body_contains="<title>"),
                {"name": "late", "url": f"{receiver.url}/late", "body_contains": "<title>"},
            ]
        )
    )

    assert report.component("api").status == "healthy"  # type: ignore[union-attr]
    late = report.component("late")
    assert (late.status, late.reason) == (  # type: ignore[union-attr]
        "unhealthy",
        "the first 1024 KiB of the body do not contain the expected text",
    )


def test_a_gzip_bomb_is_not_inflated_past_the_limit(receiver: HttpReceiver) -> None:
    import gzip

    bomb = gzip.compress(b"\0" * (64 * MAX_BODY_BYTES))  # 64 MiB in about 64 KiB
    receiver.script("/", Reply(200, bomb, headers={"Content-Encoding": "gzip"}))
    receiver.script("/api/v1/key", Reply(200, bomb, headers={"Content-Encoding": "gzip"}))

    report = _run(_llm(receiver, endpoints=[_endpoint(receiver, "/", body_contains="<title>")]))

    assert report.component("api").reason == (  # type: ignore[union-attr]
        "the first 1024 KiB of the body do not contain the expected text"
    )
    assert report.component("llm").reason == "the body is over 1024 KiB"  # type: ignore[union-attr]


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server answering 200 with a self-signed certificate for 127.0.0.1."""
    import ipaddress
    import ssl
    import threading
    from datetime import UTC, datetime, timedelta
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "server.pem"
    pem.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_tls_failures_say_what_failed(tls_server: str, receiver: HttpReceiver) -> None:
    endpoints = [
        {"name": "api", "url": f"{tls_server}/"},
        # A plain HTTP server asked for TLS: no handshake at all.
        {"name": "plain", "url": receiver.url.replace("http://", "https://") + "/"},
    ]

    report = _run(_settings(endpoints=endpoints))

    assert report.component("api").reason == (  # type: ignore[union-attr]
        "TLS certificate not accepted: self-signed certificate"
    )
    assert report.component("plain").reason == (  # type: ignore[union-attr]
        "TLS handshake failed: WRONG_VERSION_NUMBER"
    )
