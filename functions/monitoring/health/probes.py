"""The built-in probes (Firestore, Cloud Storage, Firebase Auth) and the list of checks.

Each probe passes its own timeout to the client it calls, so a thread that ``run_checks``
stopped waiting for still ends on its own soon after.
"""

from __future__ import annotations

import functools
import os
import threading
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitoring.health.checks import Check, CheckFailed, Outcome
from monitoring.store import Collections, firestore_client, storage_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = [
    "PROBE_DOCUMENT",
    "PROBE_OBJECT",
    "auth_probe",
    "build_checks",
    "firestore_probe",
    "storage_probe",
]

PROBE_DOCUMENT = "probe"
# Outside the backup prefix, so the backup catalogue never lists the probe.
PROBE_OBJECT = "_firewatch/health-probe"


def firestore_probe(settings: Settings, now: datetime, timeout_s: float) -> Outcome:
    """Write the probe document, then read it back."""
    nonce = uuid.uuid4().hex
    doc = firestore_client(settings).collection(Collections.HEALTH).document(PROBE_DOCUMENT)
    doc.set({"at": now, "nonce": nonce}, timeout=timeout_s)
    snapshot = doc.get(timeout=timeout_s)
    if not snapshot.exists:
        raise CheckFailed("the probe document was written but cannot be read back")
    return Outcome()


def storage_probe(settings: Settings, now: datetime, timeout_s: float) -> Outcome:
    """Write a small object into the backup bucket: reachable and writable in one call."""
    from google.api_core import exceptions

    bucket_name = settings.backup.bucket
    blob = storage_client(settings).bucket(bucket_name).blob(PROBE_OBJECT)
    try:
        blob.upload_from_string(
            now.isoformat().encode(), content_type="text/plain", timeout=timeout_s, retry=None
        )
    except exceptions.NotFound:
        raise CheckFailed(f"backup bucket {bucket_name!r} does not exist") from None
    except exceptions.Forbidden:
        raise CheckFailed(f"no write permission on backup bucket {bucket_name!r}") from None
    return Outcome(details={"bucket": bucket_name})


_auth_lock = threading.Lock()
_auth_clients: dict[tuple[str, str, float], Any] = {}


def _auth_client(settings: Settings, timeout_s: float) -> Any:
    """Return an Admin SDK auth client whose HTTP calls time out with the probe.

    A dedicated app carries ``httpTimeout`` (the shared app keeps the SDK default of 120 s).
    The client reads ``FIREBASE_AUTH_EMULATOR_HOST`` when it is built, so it is cached per
    emulator host too.
    """
    import firebase_admin
    from firebase_admin import auth, credentials

    emulator = os.environ.get("FIREBASE_AUTH_EMULATOR_HOST", "")
    key = (settings.project_id, emulator, timeout_s)
    with _auth_lock:
        if key in _auth_clients:
            return _auth_clients[key]
        name = f"firewatch-health-{settings.project_id}-{timeout_s:g}"
        try:
            app = firebase_admin.get_app(name)
        except ValueError:
            cred: Any = None
            if emulator or settings.is_emulated:

                class _Anonymous(credentials.Base):  # type: ignore[misc]
                    def get_credential(self) -> Any:
                        from google.auth.credentials import AnonymousCredentials

                        return AnonymousCredentials()  # type: ignore[no-untyped-call]

                cred = _Anonymous()
            options = {"projectId": settings.project_id, "httpTimeout": timeout_s}
            app = firebase_admin.initialize_app(cred, options, name=name)
        client = auth.Client(app)
        _auth_clients[key] = client
        return client


def auth_probe(settings: Settings, timeout_s: float) -> Outcome:
    """Ask Firebase Auth, through the Admin SDK, for one page of at most one user."""
    from firebase_admin import exceptions

    client = _auth_client(settings, timeout_s)
    emulator = os.environ.get("FIREBASE_AUTH_EMULATOR_HOST", "")
    try:
        client.list_users(max_results=1)
    except exceptions.FirebaseError as error:
        if emulator and _refused(error):
            # `firewatch dev` points the SDK at an Auth emulator that may not be running
            # (ID tokens verify without it); locally that is worth a mention, not a 503.
            return Outcome("degraded", f"no Auth emulator answering at {emulator}")
        code = getattr(error, "code", "error")
        status = getattr(getattr(error, "http_response", None), "status_code", None)
        suffix = f" (HTTP {status})" if status else ""
        raise CheckFailed(f"Firebase Auth answered {code}{suffix}") from None
    return Outcome()


def _refused(error: BaseException) -> bool:
    import requests

    cause = getattr(error, "cause", None) or error.__cause__
    return isinstance(cause, requests.ConnectionError) and not isinstance(cause, requests.Timeout)


def build_checks(settings: Settings, now: datetime) -> list[Check]:
    """Return every configured check: the built-ins not disabled, then the app's URLs."""
    from monitoring.health.deadman import functions_probe
    from monitoring.health.web import endpoint_probe, http_client, llm_probe

    health = settings.health
    timeout = health.timeout_s
    slow = health.degraded_after_ms

    def builtin(name: str, probe: Any, prepare: Any) -> Check:
        critical = name not in health.non_critical
        return Check(name, probe, timeout, critical, slow, prepare)

    def firestore() -> object:
        return firestore_client(settings)

    candidates = [
        builtin("firestore", lambda: firestore_probe(settings, now, timeout), firestore),
        builtin(
            "storage",
            lambda: storage_probe(settings, now, timeout),
            lambda: storage_client(settings),
        ),
        builtin(
            "auth", lambda: auth_probe(settings, timeout), lambda: _auth_client(settings, timeout)
        ),
        builtin("functions", lambda: functions_probe(settings, now, timeout), firestore),
    ]
    if health.llm_api_key is not None:
        candidates.append(builtin("llm", lambda: llm_probe(settings, timeout), http_client))
    checks = [check for check in candidates if check.name not in health.disabled]

    for endpoint in health.endpoints:
        endpoint_timeout = endpoint.timeout_s or timeout
        checks.append(
            Check(
                endpoint.name,
                functools.partial(endpoint_probe, endpoint, endpoint_timeout),
                endpoint_timeout,
                endpoint.critical and endpoint.name not in health.non_critical,
                endpoint.degraded_after_ms,
                http_client,
            )
        )
    return checks
