"""Local receivers that keep what they are sent: a mail catcher and an HTTP receiver.

``firewatch dev`` routes every notification receiver to these, so a new user sees alerts
arrive; the test suite uses the same classes as its SMTP server and its stand-in for Slack,
Twilio, PagerDuty and webhooks. The HTTP receiver can be scripted to answer with chosen
status codes, ``Retry-After`` headers, delays or no answer at all.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from monitoring.localstack.emulators import free_port

__all__ = ["HttpReceiver", "MailCatcher", "ReceivedMail", "ReceivedRequest", "Reply"]


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    received_at: datetime

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    def text(self) -> str:
        part = self.message.get_body(("plain",))
        return part.get_content() if part is not None else ""

    def html(self) -> str:
        part = self.message.get_body(("html",))
        return part.get_content() if part is not None else ""


class _MailHandler:
    def __init__(self, sink: MailCatcher) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self._sink._add(
            ReceivedMail(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                message=message,
                received_at=datetime.now(UTC),
            )
        )
        return "250 Message accepted for delivery"


class MailCatcher:
    """An SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it receives.

    ``controller_options`` go to aiosmtpd's ``Controller`` (TLS context, authenticator...).
    """

    def __init__(self, port: int = 0, **controller_options: Any) -> None:
        self.port = port
        self._options = controller_options
        self._messages: list[ReceivedMail] = []
        self._lock = threading.Lock()
        self._controller: Any = None

    def start(self) -> MailCatcher:
        from aiosmtpd.controller import Controller

        # aiosmtpd logs every connection at INFO under "mail.log".
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.port = self.port or free_port()
        self._controller = Controller(
            _MailHandler(self), hostname="127.0.0.1", port=self.port, **self._options
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _add(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._messages.append(mail)

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._messages)

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Reply:
    """How the receiver answers one request.

    ``delay_s`` waits before answering; ``hang`` never answers (until the receiver is reset
    or stopped), which is how a test makes a client time out.
    """

    status: int = 200
    body: bytes | str | dict[str, Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    hang: bool = False

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict):
            return json.dumps(self.body).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return self.body, "application/octet-stream"


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: datetime
    status: int  # what the receiver answered (0 when it hung up without answering)

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


Responder = Callable[[str, str, bytes], Reply]


class HttpReceiver:
    """A threaded HTTP server on 127.0.0.1 that records requests and answers as scripted.

    For each path, ``script(path, *replies)`` queues answers used once each, in order;
    ``respond_with(fn)`` decides every other answer; the default is ``200``.
    """

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._requests: list[ReceivedRequest] = []
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._responder: Responder | None = None
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                reply = receiver._next_reply(self.command, self.path, body)
                if reply.hang:
                    receiver._release.wait(timeout=60)
                    receiver._record(self, body, 0)
                    self.close_connection = True
                    return
                if reply.delay_s:
                    receiver._release.wait(timeout=reply.delay_s)
                payload, content_type = reply.encoded()
                receiver._record(self, body, reply.status)
                self.send_response(reply.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.port = self.port or free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def _next_reply(self, method: str, path: str, body: bytes) -> Reply:
        bare = path.split("?", 1)[0]
        with self._lock:
            queue = self._scripts.get(bare)
            if queue:
                return queue.popleft()
            responder = self._responder
        return responder(method, bare, body) if responder else Reply()

    def _record(self, handler: BaseHTTPRequestHandler, body: bytes, status: int) -> None:
        request = ReceivedRequest(
            method=handler.command,
            path=handler.path,
            headers=dict(handler.headers.items()),
            body=body,
            received_at=datetime.now(UTC),
            status=status,
        )
        with self._lock:
            self._requests.append(request)

    def script(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts[path].extend(replies)

    def respond_with(self, responder: Responder | None) -> None:
        with self._lock:
            self._responder = responder

    def requests(self, path: str | None = None) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self._requests if path is None or r.path.split("?")[0] == path]

    def reset(self) -> None:
        """Forget requests and scripts, and let any hanging answers finish."""
        self._release.set()
        with self._lock:
            self._requests.clear()
            self._scripts.clear()
            self._responder = None
        self._release = threading.Event()

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HttpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
