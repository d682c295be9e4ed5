"""The session-wide secret scan: no test secret in any log line or stored document.

Registered by tests/conftest.py as a pytest plugin. For the whole run it

- attaches a raw capture handler to the root logger (no ``Redactor``: a secret that reaches
  a logger at all is a finding, even if production output would mask it);
- reads pytest's captured stdout, stderr and log sections of every test;
- checks every write the Firestore client sends (commit and batch_write requests), so data
  from every test is seen although each test empties the database first; reading the
  whole project before each reset instead cost about a minute per full run;
- reads every document of the test project over REST when the emulator stops (and tests
  may call ``scan_documents`` themselves), which also covers writes made over REST.

Secrets are ``KNOWN_TEST_SECRETS`` (tests/security/secrets.py) plus every secret value any
test puts into a ``Settings`` object. A match fails the run with the test, the place and
the secret's first characters only. The scan reports its own cost in the terminal summary.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest

from monitoring.config import Settings
from monitoring.localstack.emulators import FirestoreEmulator
from tests.security.secrets import KNOWN_TEST_SECRETS

PLUGIN_NAME = "firewatch-secret-scan"
# A secret shorter than this would match ordinary words (the Redactor uses 6 as well).
MIN_SECRET_CHARS = 6


def _shown(secret: str) -> str:
    return secret[:3] + "…"


class SecretScan:
    """Collects findings; see the module docstring. One instance per pytest session."""

    def __init__(self, secrets: Iterable[str] = KNOWN_TEST_SECRETS) -> None:
        self.secrets: set[str] = set()
        self.add(secrets)
        self.findings: list[str] = []
        self.current = "(session start)"
        self.seconds = 0.0
        self.documents_scanned = 0
        self.unreachable = 0
        self._lock = threading.Lock()
        self.handler = _RawCapture(self)

    def add(self, values: Iterable[str]) -> None:
        self.secrets.update(v for v in values if len(v) >= MIN_SECRET_CHARS)

    # Checking text -----------------------------------------------------------------------

    def check(self, text: str, where: str) -> None:
        for secret in self.secrets:
            if secret in text:
                with self._lock:
                    self.findings.append(f"{self.current}: {where} contains {_shown(secret)}")

    # Documents -----------------------------------------------------------------------------

    def scan_documents(self, emulator: FirestoreEmulator) -> None:
        """Check every document of ``emulator``'s project (one kindless REST query)."""
        began = time.perf_counter()
        root = f"projects/{emulator.project_id}/databases/(default)/documents"
        query = {"structuredQuery": {"from": [{"allDescendants": True}]}}
        try:
            reply = httpx.post(
                f"{emulator.url}/v1/{root}:runQuery",
                json=query,
                headers={"Authorization": "Bearer owner"},
                timeout=30.0,
            )
            reply.raise_for_status()
            rows = reply.json()
        except (httpx.HTTPError, ValueError):
            self.unreachable += 1  # a stopped or restarting emulator: nothing to read
            return
        finally:
            self.seconds += time.perf_counter() - began
        began = time.perf_counter()
        for row in rows:
            document = row.get("document")
            if document is None:
                continue
            self.documents_scanned += 1
            path = document["name"].removeprefix(root + "/")
            self.check(path, f"document id {path}")
            for text in _strings(document.get("fields", {})):
                self.check(text, f"document {path}")
        self.seconds += time.perf_counter() - began

    def watch(self, emulator: FirestoreEmulator) -> None:
        """Scan every document of ``emulator`` just before it stops."""
        stop = emulator.stop

        def scanned_stop() -> None:
            self.current = "(session end)"
            self.scan_documents(emulator)
            stop()

        emulator.stop = scanned_stop  # type: ignore[method-assign]

    def watch_writes(self) -> None:
        """Check the content of every commit and batch_write the Firestore client sends."""
        from google.cloud.firestore_v1.services.firestore.client import FirestoreClient

        scan = self
        for name in ("commit", "batch_write"):
            original = getattr(FirestoreClient, name)

            def wrapped(
                client: Any, *args: Any, __original: Any = original, __name: str = name, **kw: Any
            ) -> Any:
                began = time.perf_counter()
                scan.check(
                    repr(kw.get("request", args[0] if args else None)), f"Firestore {__name}"
                )
                scan.seconds += time.perf_counter() - began
                return __original(client, *args, **kw)

            setattr(FirestoreClient, name, wrapped)

    def watch_settings(self) -> None:
        """Add the secrets of every ``Settings`` built from now on to the list."""
        original = Settings.__init__
        scan = self

        def init(self: Settings, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            scan.add(self.secret_values())

        Settings.__init__ = init  # type: ignore[method-assign]

    # pytest hooks ----------------------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        logging.getLogger().addHandler(self.handler)
        self.watch_settings()
        self.watch_writes()

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Iterator[Any]:
        result = yield
        if fixturedef.argname == "firestore_emulator" and isinstance(result, FirestoreEmulator):
            self.watch(result)
        return result

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.current = item.nodeid

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        began = time.perf_counter()
        for title, content in report.sections:
            self.check(content, title.lower())
        self.seconds += time.perf_counter() - began

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        logging.getLogger().removeHandler(self.handler)
        if self.findings:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.findings:
            terminalreporter.section("secret scan: FAILED", red=True)
            for finding in dict.fromkeys(self.findings):
                terminalreporter.line(finding)
        else:
            terminalreporter.line(
                f"secret scan: {len(self.secrets)} secrets; every log line, write and "
                f"{self.documents_scanned} stored documents clean ({self.seconds:.1f} s)"
            )


class _RawCapture(logging.Handler):
    """A root handler that checks each record's full text, before any redaction."""

    def __init__(self, scan: SecretScan) -> None:
        super().__init__(logging.NOTSET)
        self.scan = scan

    def emit(self, record: logging.LogRecord) -> None:
        try:
            parts = [record.getMessage()]
        except Exception:  # a bad %-format is the logging call's bug, not a leak
            parts = [str(record.msg)]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
        parts += [str(v) for k, v in vars(record).items() if k not in _STANDARD and v is not None]
        self.scan.check("\n".join(parts), f"log record from {record.name}")


_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def _strings(value: Any) -> Iterator[str]:
    """Yield every string in a Firestore REST value tree, base64 bytes decoded."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "bytesValue" and isinstance(item, str):
                with contextlib.suppress(binascii.Error, ValueError):
                    yield base64.b64decode(item).decode("utf-8", "replace")
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value
