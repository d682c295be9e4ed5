"""Mitigation actions, as plug-ins that each support a dry run.

``MITIGATIONS`` is the one registry (kind -> class). Each action validates its parameters,
says what it would do (``dry_run=True`` touches nothing), or does it and reports what it
did. Every real run is written to ``fw_audit`` and, when an incident is named, to that
incident's timeline (not public: the status page never shows mitigations).

- ``circuit_breaker`` sets ``fw_flags/<flag>`` to ``{"open": true, ...}``. The app's backend
  reads it with ``is_flag_open`` (or directly) and stops calling the broken dependency.
- ``security_lockdown`` revokes users' refresh tokens through the Admin SDK
  (``firebase_admin.auth.revoke_refresh_tokens``): signed-in sessions end within the hour
  the ID token lives, and every refresh is refused, so users must sign in again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from monitoring.errors import InputError
from monitoring.store import Collections, firebase_app, firestore_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = [
    "MITIGATIONS",
    "CircuitBreaker",
    "MitigationResult",
    "SecurityLockdown",
    "is_flag_open",
    "run_mitigation",
]

logger = logging.getLogger(__name__)


@dataclass
class MitigationResult:
    kind: str
    dry_run: bool
    summary: str
    # Counts and names safe to show operators; never tokens, never user ids.
    details: dict[str, Any] = field(default_factory=dict)


class Mitigation(Protocol):
    kind: ClassVar[str]

    def run(
        self,
        settings: Settings,
        params: dict[str, Any],
        *,
        dry_run: bool,
        actor: str,
        now: datetime,
    ) -> MitigationResult: ...


class CircuitBreaker:
    """Open (or close, with ``open: false``) a named circuit-breaker flag."""

    kind: ClassVar[str] = "circuit_breaker"

    def run(
        self,
        settings: Settings,
        params: dict[str, Any],
        *,
        dry_run: bool,
        actor: str,
        now: datetime,
    ) -> MitigationResult:
        flag = str(params.get("flag", "")).strip()
        if not flag or "/" in flag:
            raise InputError("circuit_breaker needs a flag name without '/', e.g. flag=payments")
        opened = bool(params.get("open", True))
        reason = str(params.get("reason", ""))[:500]
        doc = firestore_client(settings).collection(Collections.FLAGS).document(flag)
        before = (doc.get().to_dict() or {}).get("open", False)
        verb = "open" if opened else "close"
        if dry_run:
            return MitigationResult(
                self.kind,
                True,
                f"would {verb} circuit breaker {flag!r} (now {'open' if before else 'closed'})",
                {"flag": flag, "open": opened, "was_open": before},
            )
        doc.set({"open": opened, "reason": reason, "set_by": actor, "set_at": now})
        return MitigationResult(
            self.kind,
            False,
            f"circuit breaker {flag!r} is {'open' if opened else 'closed'}",
            {"flag": flag, "open": opened, "was_open": before},
        )


class SecurityLockdown:
    """Revoke refresh tokens: of the users in ``uids``, or of every user with ``all: true``.

    ``all`` is capped by ``incidents.lockdown_max_users`` so a typo cannot walk a user base
    of millions in one function call.
    """

    kind: ClassVar[str] = "security_lockdown"

    def run(
        self,
        settings: Settings,
        params: dict[str, Any],
        *,
        dry_run: bool,
        actor: str,
        now: datetime,
    ) -> MitigationResult:
        from firebase_admin import auth

        app = firebase_app(settings)
        uids = [str(uid) for uid in params.get("uids", []) if str(uid).strip()]
        everyone = bool(params.get("all", False))
        if not uids and not everyone:
            raise InputError("security_lockdown needs uids=[...] or all=true")
        if everyone:
            cap = settings.incidents.lockdown_max_users
            uids = []
            for user in auth.list_users(app=app).iterate_all():
                uids.append(user.uid)
                if len(uids) > cap:
                    raise InputError(
                        f"more than {cap} users; raise FIREWATCH_INCIDENTS__LOCKDOWN_MAX_USERS"
                        " or name the users"
                    )
        if dry_run:
            return MitigationResult(
                self.kind,
                True,
                f"would revoke the refresh tokens of {len(uids)} user(s)",
                {"users": len(uids)},
            )
        failed = 0
        for uid in uids:
            try:
                auth.revoke_refresh_tokens(uid, app=app)
            except auth.UserNotFoundError:
                failed += 1
        logger.info("lockdown revoked %d user(s), %d not found", len(uids) - failed, failed)
        return MitigationResult(
            self.kind,
            False,
            f"revoked the refresh tokens of {len(uids) - failed} user(s)",
            {"users": len(uids) - failed, "not_found": failed},
        )


MITIGATIONS: dict[str, type[Mitigation]] = {
    CircuitBreaker.kind: CircuitBreaker,
    SecurityLockdown.kind: SecurityLockdown,
}


def run_mitigation(
    settings: Settings,
    kind: str,
    params: dict[str, Any],
    *,
    now: datetime,
    actor: str,
    dry_run: bool = True,
    incident_id: str | None = None,
) -> MitigationResult:
    """Run mitigation ``kind``; a dry run (the default) changes nothing anywhere."""
    action = MITIGATIONS.get(kind)
    if action is None:
        raise InputError(f"unknown mitigation {kind!r}; choose one of {', '.join(MITIGATIONS)}")
    if incident_id is not None:
        from monitoring.incidents.service import get_incident

        get_incident(settings, incident_id)  # fail before acting on a wrong id

    result = action().run(settings, params, dry_run=dry_run, actor=actor, now=now)
    if dry_run:
        return result

    firestore_client(settings).collection(Collections.AUDIT).add(
        {
            "action": f"mitigation.{kind}",
            "actor": actor,
            "at": now,
            "incident": incident_id,
            "summary": result.summary,
            "details": result.details,
        }
    )
    if incident_id is not None:
        from monitoring.incidents.service import record_mitigation

        record_mitigation(settings, incident_id, result.summary, now=now, actor=actor)
    return result


def is_flag_open(settings: Settings, flag: str) -> bool:
    """Return whether circuit breaker ``flag`` is open (what the app checks before calling)."""
    snap = firestore_client(settings).collection(Collections.FLAGS).document(flag).get()
    return bool(snap.exists and (snap.to_dict() or {}).get("open"))
