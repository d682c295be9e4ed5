"""Firestore and Cloud Storage access, created on first use.

Nothing here creates a client at import time: each Cloud Function imports the whole of
``main.py``, so a health check must not pay for the backup code's clients. Clients are cached
per project and emulator host, which is what a function instance and a test session need.

Against the emulators (``FIRESTORE_EMULATOR_HOST``, ``STORAGE_EMULATOR_HOST``) clients use
anonymous credentials; deployed, they use the runtime's service account.
"""

from __future__ import annotations

import os
import re
import threading
from typing import TYPE_CHECKING, Any

from monitoring.errors import InputError

if TYPE_CHECKING:
    from google.cloud import firestore, storage  # type: ignore[attr-defined]

    from monitoring.config import Settings

__all__ = [
    "Collections",
    "check_document_id",
    "check_document_path",
    "document_id_problem",
    "document_path_problem",
    "firestore_client",
    "storage_client",
]

# https://firebase.google.com/docs/firestore/quotas#collections_documents_and_fields
MAX_ID_BYTES = 1500
_RESERVED_ID = re.compile(r"__.*__", re.DOTALL)


class Collections:
    """Firestore collections Firewatch owns. Clients can never touch them (firestore.rules),
    except ``STATUS``, which the public status page data lives in and clients may read."""

    ROLLUPS = "fw_rollups"
    DISTINCT = "fw_distinct"
    ALERT_STATE = "fw_alert_state"
    ALERT_HISTORY = "fw_alert_history"
    SILENCES = "fw_silences"
    OUTBOX = "fw_outbox"
    DEAD_LETTERS = "fw_dead_letters"
    DELIVERIES = "fw_deliveries"
    BACKUPS = "fw_backups"
    ERASURES = "fw_erasures"
    AUDIT = "fw_audit"
    INCIDENTS = "fw_incidents"
    REPORTS = "fw_reports"
    HEARTBEATS = "fw_heartbeats"
    HEALTH = "fw_health"
    LOCKS = "fw_locks"
    RATE_LIMITS = "fw_rate_limits"
    FLAGS = "fw_flags"
    STATUS = "fw_status"
    SERIES = "fw_series"  # label sets admitted per metric (the cardinality cap)
    SENT = "fw_sent"  # per-recipient send records of channels without keys (SMS)
    RESTORES = "fw_restores"
    KPI_STATE = "fw_kpi_state"


def document_id_problem(value: str) -> str | None:
    """Return why ``value`` cannot be a Firestore document id, or None when it can be one.

    Firestore answers such ids with an error about paths or reserved ids, and an id with a
    '/' silently names a document somewhere else.
    """
    if not value:
        return "it is empty"
    if "/" in value:
        return "it contains '/'"
    if value in (".", ".."):
        return "'.' and '..' are not ids"
    if _RESERVED_ID.fullmatch(value):
        return "ids of the form __name__ are reserved"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate, from a command line that was not UTF-8
        return "it is not UTF-8 text"
    if size > MAX_ID_BYTES:
        return f"it is longer than {MAX_ID_BYTES} bytes"
    return None


def document_path_problem(path: str) -> str | None:
    """Return why ``path`` is not a document path (``collection/id[/collection/id...]``)."""
    parts = path.split("/")
    for number, part in enumerate(parts, start=1):
        problem = document_id_problem(part)
        if problem is not None:
            return f"part {number} ({part!r}): {problem}"
    if len(parts) % 2:
        return "it names a collection (a document path has an even number of parts)"
    return None


def check_document_id(value: str, noun: str) -> str:
    """Return ``value`` when it can be a document id; raise ``InputError`` saying why not.

    ``noun`` names what the id is for, with its article ("an incident id").
    """
    problem = document_id_problem(value)
    if problem is not None:
        raise InputError(f"{_shown(value)} is not {noun}: {problem}")
    return value


def check_document_path(value: str) -> str:
    """Return ``value`` when it is a document path; raise ``InputError`` saying why not."""
    problem = document_path_problem(value)
    if problem is not None:
        raise InputError(f"{_shown(value)} is not a document path (e.g. prompts/p1): {problem}")
    return value


def _shown(value: str) -> str:
    # A 2000-character id would bury the sentence; its start is enough to recognise it.
    return repr(value if len(value) <= 60 else value[:40] + "...")


_lock = threading.Lock()
_clients: dict[tuple[str, str, str | None], Any] = {}


def _cached(kind: str, project: str, host: str | None, build: Any) -> Any:
    key = (kind, project, host)
    with _lock:
        if key not in _clients:
            _clients[key] = build()
        return _clients[key]


def firestore_client(settings: Settings) -> firestore.Client:
    """Return this process's Firestore client for ``settings.project_id``."""

    def build() -> firestore.Client:
        from google.cloud import firestore

        if settings.firestore_emulator_host:
            # The client reads the host from the environment; keep both in agreement.
            os.environ["FIRESTORE_EMULATOR_HOST"] = settings.firestore_emulator_host
        return firestore.Client(project=settings.project_id)

    client: firestore.Client = _cached(
        "firestore", settings.project_id, settings.firestore_emulator_host, build
    )
    return client


def storage_client(settings: Settings) -> storage.Client:
    """Return this process's Cloud Storage client (anonymous against the emulator)."""

    def build() -> storage.Client:
        from google.cloud import storage  # type: ignore[attr-defined]

        host = settings.storage_emulator_host
        if host:
            from google.auth.credentials import AnonymousCredentials

            os.environ["STORAGE_EMULATOR_HOST"] = host
            return storage.Client(
                project=settings.project_id,
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                client_options={"api_endpoint": host},
            )
        return storage.Client(project=settings.project_id)

    client: storage.Client = _cached(
        "storage", settings.project_id, settings.storage_emulator_host, build
    )
    return client


def reset_clients() -> None:
    """Forget cached clients (tests that switch emulators)."""
    with _lock:
        _clients.clear()


def firebase_app(settings: Settings) -> Any:
    """Return the firebase_admin app for ``settings.project_id``, initialising it once.

    Against the emulators it uses anonymous credentials (``firebase_admin`` would otherwise
    look for application default credentials even there).
    """

    def build() -> Any:
        import firebase_admin
        from firebase_admin import credentials

        name = f"firewatch-{settings.project_id}"
        try:
            return firebase_admin.get_app(name)
        except ValueError:
            pass
        cred: Any = None
        if settings.is_emulated:

            class _Anonymous(credentials.Base):  # type: ignore[misc]
                def get_credential(self) -> Any:
                    from google.auth.credentials import AnonymousCredentials

                    return AnonymousCredentials()  # type: ignore[no-untyped-call]

            cred = _Anonymous()
        return firebase_admin.initialize_app(cred, {"projectId": settings.project_id}, name=name)

    return _cached("firebase_app", settings.project_id, settings.firestore_emulator_host, build)
