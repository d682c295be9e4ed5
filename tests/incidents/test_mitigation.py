"""Mitigation plug-ins, in dry run and for real.

The circuit breaker runs against the Firestore emulator. The security lockdown runs twice:
against a local HTTP stand-in (FIREBASE_AUTH_EMULATOR_HOST pointing at the ``receiver``
fixture, which records the Admin SDK's REST calls and can be asked about them), and for real
against firebase-tools' Auth emulator (the ``auth_emulator`` fixture), skipped with a reason
when firebase-tools is not installed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.errors import InputError, MitigationError
from monitoring.incidents import service
from monitoring.incidents.mitigation import is_flag_open, run_mitigation
from monitoring.localstack.catchers import HttpReceiver, Reply
from monitoring.store import Collections, firestore_client
from tests.conftest import PROJECT


def _drop_admin_app(settings: Settings) -> None:
    # The Admin SDK caches its auth client (and the emulator host it read) on the app.
    import firebase_admin

    with contextlib.suppress(ValueError):
        firebase_admin.delete_app(firebase_admin.get_app(f"firewatch-{settings.project_id}"))


@pytest.fixture
def auth_stand_in(
    settings: Settings, receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HttpReceiver]:
    from monitoring.store import reset_clients

    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{receiver.port}")
    _drop_admin_app(settings)
    reset_clients()

    def answer(method: str, path: str, body: bytes) -> Reply:
        if path.endswith("/accounts:batchGet"):
            users = [{"localId": uid} for uid in ("u-1", "u-2", "u-3")]
            return Reply(body={"users": users})
        if path.endswith("/accounts:update"):
            return Reply(body={"localId": json.loads(body)["localId"]})
        return Reply(status=404, body={"error": {"message": "USER_NOT_FOUND"}})

    receiver.respond_with(answer)
    yield receiver
    _drop_admin_app(settings)
    reset_clients()


def test_circuit_breaker_dry_run_changes_nothing(settings: Settings, clock: ManualClock) -> None:
    result = run_mitigation(
        settings, "circuit_breaker", {"flag": "payments"}, now=clock.now(), actor="ana"
    )
    assert result.dry_run is True
    assert "would open" in result.summary
    assert is_flag_open(settings, "payments") is False
    assert list(firestore_client(settings).collection(Collections.AUDIT).stream()) == []


def test_circuit_breaker_sets_the_flag_the_app_reads_and_records_it(
    settings: Settings, clock: ManualClock
) -> None:
    incident = service.open_incident(
        settings, title="Payments failing", now=clock.now(), actor="ana"
    )
    result = run_mitigation(
        settings,
        "circuit_breaker",
        {"flag": "payments", "reason": "provider 5xx"},
        now=clock.now(),
        actor="ana",
        dry_run=False,
        incident_id=incident.id,
    )
    assert result.details == {"flag": "payments", "open": True, "was_open": False}
    flag = firestore_client(settings).collection(Collections.FLAGS).document("payments").get()
    assert (flag.to_dict() or {})["open"] is True
    assert is_flag_open(settings, "payments") is True

    entry = service.get_incident(settings, incident.id).timeline[-1]
    assert (entry.kind, entry.actor, entry.public) == ("mitigation", "ana", False)
    audit = [d.to_dict() for d in firestore_client(settings).collection(Collections.AUDIT).stream()]
    assert [a["action"] for a in audit if a] == ["mitigation.circuit_breaker"]

    run_mitigation(
        settings,
        "circuit_breaker",
        {"flag": "payments", "open": False},
        now=clock.now(),
        actor="ana",
        dry_run=False,
    )
    assert is_flag_open(settings, "payments") is False


def test_lockdown_dry_run_counts_users_without_revoking(
    settings: Settings, clock: ManualClock, auth_stand_in: HttpReceiver
) -> None:
    result = run_mitigation(
        settings, "security_lockdown", {"all": True}, now=clock.now(), actor="ana"
    )
    assert (result.dry_run, result.details) == (True, {"users": 3})
    paths = [r.path.split("?")[0] for r in auth_stand_in.requests()]
    assert all(p.endswith("/accounts:batchGet") for p in paths)
    assert paths  # it did list the users


def test_lockdown_revokes_refresh_tokens_through_the_admin_sdk(
    settings: Settings, clock: ManualClock, auth_stand_in: HttpReceiver
) -> None:
    result = run_mitigation(
        settings,
        "security_lockdown",
        {"uids": ["u-1", "u-2"]},
        now=clock.now(),
        actor="ana",
        dry_run=False,
    )
    updates = auth_stand_in.requests(
        f"/identitytoolkit.googleapis.com/v1/projects/{settings.project_id}/accounts:update"
    )
    bodies: list[dict[str, Any]] = [r.json() for r in updates]
    assert [b["localId"] for b in bodies] == ["u-1", "u-2"]
    assert all(b["validSince"] for b in bodies)
    assert result.details == {"users": 2, "not_found": 0}
    assert "u-1" not in result.summary  # user ids stay out of summaries and the audit log


def test_lockdown_needs_users_or_all(settings: Settings, clock: ManualClock) -> None:
    with pytest.raises(InputError, match="uids"):
        run_mitigation(settings, "security_lockdown", {}, now=clock.now(), actor="ana")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"all": "false", "uids": ["u-1"]},
            'security_lockdown --params: all must be JSON true or false (not "false")',
        ),
        ({"uids": "u-1"}, 'security_lockdown --params: uids must be a list, e.g. ["u-1"]'),
        ({"uids": 5}, 'security_lockdown --params: uids must be a list, e.g. ["u-1"]'),
        (
            {"uids": ["u-1", "u-2", "x" * 200]},
            "security_lockdown --params: uids[2] is not a uid (1 to 128 characters, not blank)",
        ),
        ({"uids": ["u-1", 7]}, "security_lockdown --params: uids[1] must be a string"),
        (
            {"uids": ["u-1"], "all": True},
            "security_lockdown --params: give uids=[...] or all=true, not both",
        ),
        (
            {"uid": ["u-1"]},
            "security_lockdown --params: uid is not one of its parameters",
        ),
    ],
    ids=["all-string", "uids-string", "uids-number", "uid-too-long", "uid-number", "both", "typo"],
)
def test_lockdown_refuses_loose_params_before_revoking_anyone(
    settings: Settings,
    clock: ManualClock,
    auth_stand_in: HttpReceiver,
    params: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(InputError) as refused:
        run_mitigation(
            settings, "security_lockdown", params, now=clock.now(), actor="ana", dry_run=False
        )
    assert str(refused.value) == message
    assert auth_stand_in.requests() == []
    assert list(firestore_client(settings).collection(Collections.AUDIT).stream()) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"flag": "payments", "open": "false"},
            'circuit_breaker --params: open must be JSON true or false (not "false")',
        ),
        (
            {"flag": "__x__"},
            "circuit_breaker --params: flag is not a flag name (a Firestore document id, e.g."
            " payments): ids of the form __name__ are reserved",
        ),
        (
            {"flag": ".."},
            "circuit_breaker --params: flag is not a flag name (a Firestore document id, e.g."
            " payments): '.' and '..' are not ids",
        ),
        ({"open": True}, "circuit_breaker --params: flag is required"),
        ({"flag": 3}, "circuit_breaker --params: flag must be a string"),
    ],
    ids=["open-string", "reserved-flag", "dot-dot-flag", "no-flag", "flag-number"],
)
def test_circuit_breaker_refuses_loose_params(
    settings: Settings, clock: ManualClock, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError) as refused:
        run_mitigation(
            settings, "circuit_breaker", params, now=clock.now(), actor="ana", dry_run=False
        )
    assert str(refused.value) == message
    assert list(firestore_client(settings).collection(Collections.FLAGS).stream()) == []


def test_lockdown_stopped_part_way_records_what_it_revoked(
    settings: Settings, clock: ManualClock, auth_stand_in: HttpReceiver
) -> None:
    def refuse_u2(method: str, path: str, body: bytes) -> Reply:
        uid = json.loads(body)["localId"]
        if uid == "u-2":
            return Reply(status=403, body={"error": {"message": "PERMISSION_DENIED"}})
        return Reply(body={"localId": uid})

    auth_stand_in.respond_with(refuse_u2)
    incident = service.open_incident(settings, title="Leaked tokens", now=clock.now(), actor="ana")

    with pytest.raises(MitigationError) as stopped:
        run_mitigation(
            settings,
            "security_lockdown",
            {"uids": ["u-1", "u-2", "u-3"]},
            now=clock.now(),
            actor="ana",
            dry_run=False,
            incident_id=incident.id,
        )

    summary = (
        "revoked the refresh tokens of the first 1 of 3 user(s) (0 not found),"
        " then stopped by PermissionDeniedError; the other 2 were not revoked"
    )
    assert str(stopped.value).startswith(f"security_lockdown: {summary} (")
    updates = auth_stand_in.requests(
        f"/identitytoolkit.googleapis.com/v1/projects/{settings.project_id}/accounts:update"
    )
    assert [r.json()["localId"] for r in updates] == ["u-1", "u-2"]  # u-3 never tried
    audit = [d.to_dict() for d in firestore_client(settings).collection(Collections.AUDIT).stream()]
    assert [(a["action"], a["summary"], a["details"]) for a in audit if a] == [
        (
            "mitigation.security_lockdown",
            summary,
            {"users": 1, "not_found": 0, "not_revoked": 2, "error": "PermissionDeniedError"},
        )
    ]
    entry = service.get_incident(settings, incident.id).timeline[-1]
    assert (entry.kind, entry.message, entry.public) == ("mitigation", summary, False)


def test_unknown_mitigation_is_refused(settings: Settings, clock: ManualClock) -> None:
    with pytest.raises(InputError, match="circuit_breaker"):
        run_mitigation(settings, "reboot_everything", {}, now=clock.now(), actor="ana")


def test_lockdown_revokes_tokens_in_the_real_auth_emulator(
    settings: Settings, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, auth_emulator: str
) -> None:
    import time

    import httpx
    from firebase_admin import auth

    from monitoring.store import firebase_app

    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", auth_emulator)
    _drop_admin_app(settings)
    app = firebase_app(settings)
    base = f"http://{auth_emulator}/identitytoolkit.googleapis.com/v1/projects/{PROJECT}"
    httpx.delete(f"http://{auth_emulator}/emulator/v1/projects/{PROJECT}/accounts")
    for uid in ("ada", "bo"):
        auth.create_user(uid=uid, app=app)
        # Sessions valid since 1970 + 1000 s, so a revocation visibly moves the mark.
        httpx.post(
            f"{base}/accounts:update",
            json={"localId": uid, "validSince": "1000"},
            headers={"Authorization": "Bearer owner"},
        ).raise_for_status()

    def marks() -> list[int]:
        return [auth.get_user(uid, app=app).tokens_valid_after_timestamp for uid in ("ada", "bo")]

    assert marks() == [1_000_000, 1_000_000]
    dry = run_mitigation(settings, "security_lockdown", {"all": True}, now=clock.now(), actor="a")
    assert dry.details == {"users": 2}
    assert marks() == [1_000_000, 1_000_000]

    started = int(time.time()) * 1000
    done = run_mitigation(
        settings, "security_lockdown", {"all": True}, now=clock.now(), actor="a", dry_run=False
    )
    assert done.details == {"users": 2, "not_found": 0}
    assert all(mark >= started for mark in marks())
    _drop_admin_app(settings)
