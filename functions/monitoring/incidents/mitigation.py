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
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Protocol, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    model_validator,
)

from monitoring.errors import InputError, MitigationError
from monitoring.store import Collections, document_id_problem, firebase_app, firestore_client

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

# The Admin SDK's own rule (firebase_admin._auth_utils.validate_uid); checked up front so a
# bad uid late in the list cannot stop a lockdown half-way.
MAX_UID_CHARS = 128


@dataclass
class MitigationResult:
    kind: str
    dry_run: bool
    summary: str
    # Counts and names safe to show operators; never tokens, never user ids.
    details: dict[str, Any] = field(default_factory=dict)


class _Stopped(Exception):
    """An action failed after it had changed something; ``result`` says what it did."""

    def __init__(self, result: MitigationResult, cause: Exception) -> None:
        super().__init__(result.summary)
        self.result = result
        self.cause = cause


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


def _flag_name(value: str) -> str:
    problem = document_id_problem(value)
    if problem is not None:
        raise ValueError(f"is not a flag name (a Firestore document id, e.g. payments): {problem}")
    return value


def _uid(value: str) -> str:
    if not value.strip() or len(value) > MAX_UID_CHARS:
        raise ValueError(f"is not a uid (1 to {MAX_UID_CHARS} characters, not blank)")
    return value


class _Params(BaseModel):
    # Strict: JSON "false" is a string, and a string is not a list of uids.
    model_config = ConfigDict(extra="forbid", strict=True)


class CircuitBreakerParams(_Params):
    flag: Annotated[StrictStr, AfterValidator(_flag_name)]
    open: StrictBool = True
    reason: StrictStr = Field("", max_length=500)


class LockdownParams(_Params):
    uids: list[Annotated[StrictStr, AfterValidator(_uid)]] = Field(default_factory=list)
    all: StrictBool = False

    @model_validator(mode="after")
    def _one_target(self) -> LockdownParams:
        if not self.uids and not self.all:
            raise ValueError("give uids=[...] or all=true")
        if self.uids and self.all:
            raise ValueError("give uids=[...] or all=true, not both")
        return self


_P = TypeVar("_P", bound=_Params)

# pydantic's wording, said the way an operator typing JSON reads it.
_MESSAGES = {
    "bool_type": 'must be JSON true or false (not "false")',
    "list_type": 'must be a list, e.g. ["u-1"]',
    "string_type": "must be a string",
    "extra_forbidden": "is not one of its parameters",
    "missing": "is required",
}


def _parse(model: type[_P], kind: str, params: dict[str, Any]) -> _P:
    """Return ``params`` as ``model``; raise ``InputError`` naming every bad field."""
    try:
        return model.model_validate(params)
    except ValidationError as error:
        problems = []
        for problem in error.errors(include_url=False):
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in problem["loc"])
            # Never the input itself: a uid is personal data and stays out of messages.
            said = problem["msg"].removeprefix("Value error, ")
            message = _MESSAGES.get(problem["type"], said[:1].lower() + said[1:])
            problems.append(f"{where[1:]} {message}" if where else message)
        raise InputError(f"{kind} --params: {'; '.join(problems)}") from None


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
        wanted = _parse(CircuitBreakerParams, self.kind, params)
        flag, opened = wanted.flag, wanted.open
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
        doc.set({"open": opened, "reason": wanted.reason, "set_by": actor, "set_at": now})
        return MitigationResult(
            self.kind,
            False,
            f"circuit breaker {flag!r} is {'open' if opened else 'closed'}",
            {"flag": flag, "open": opened, "was_open": before},
        )


class SecurityLockdown:
    """Revoke refresh tokens: of the users in ``uids``, or of every user with ``all: true``.

    ``all`` is capped by ``incidents.lockdown_max_users`` so a typo cannot walk a user base
    of millions in one function call. Users are revoked in order; when one revocation fails
    the rest are not tried, and the error says how many (the first N of the list) were.
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

        wanted = _parse(LockdownParams, self.kind, params)
        app = firebase_app(settings)
        uids = wanted.uids
        if wanted.all:
            uids = self._everyone(settings, app)
        if dry_run:
            return MitigationResult(
                self.kind,
                True,
                f"would revoke the refresh tokens of {len(uids)} user(s)",
                {"users": len(uids)},
            )

        revoked = not_found = 0
        try:
            for uid in uids:
                try:
                    auth.revoke_refresh_tokens(uid, app=app)
                    revoked += 1
                except auth.UserNotFoundError:
                    not_found += 1
        # Whatever stopped the loop, the revocations before it happened and must be recorded.
        except Exception as error:
            raise _Stopped(self._stopped(uids, revoked, not_found, error), error) from error
        logger.info("lockdown revoked %d user(s), %d not found", revoked, not_found)
        return MitigationResult(
            self.kind,
            False,
            f"revoked the refresh tokens of {revoked} user(s)",
            {"users": revoked, "not_found": not_found},
        )

    def _everyone(self, settings: Settings, app: Any) -> list[str]:
        from firebase_admin import auth

        cap = settings.incidents.lockdown_max_users
        uids: list[str] = []
        for user in auth.list_users(app=app).iterate_all():
            uids.append(user.uid)
            if len(uids) > cap:
                raise InputError(
                    f"more than {cap} users; raise FIREWATCH_INCIDENTS__LOCKDOWN_MAX_USERS"
                    " or name the users"
                )
        return uids

    def _stopped(
        self, uids: list[str], revoked: int, not_found: int, error: Exception
    ) -> MitigationResult:
        tried = revoked + not_found
        return MitigationResult(
            self.kind,
            False,
            f"revoked the refresh tokens of the first {tried} of {len(uids)} user(s)"
            f" ({not_found} not found), then stopped by {type(error).__name__};"
            f" the other {len(uids) - tried} were not revoked",
            {
                "users": revoked,
                "not_found": not_found,
                "not_revoked": len(uids) - tried,
                "error": type(error).__name__,
            },
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
    """Run mitigation ``kind``; a dry run (the default) changes nothing anywhere.

    Raises ``InputError`` for bad ``params`` before anything is done, and
    ``MitigationError`` when the action stopped part-way; what it did is recorded first.
    """
    action = MITIGATIONS.get(kind)
    if action is None:
        raise InputError(f"unknown mitigation {kind!r}; choose one of {', '.join(MITIGATIONS)}")
    if incident_id is not None:
        from monitoring.incidents.service import get_incident

        get_incident(settings, incident_id)  # fail before acting on a wrong id

    try:
        result = action().run(settings, params, dry_run=dry_run, actor=actor, now=now)
    except _Stopped as stopped:
        _record(settings, stopped.result, now=now, actor=actor, incident_id=incident_id)
        logger.error("mitigation %s stopped part-way", kind, exc_info=stopped.cause)
        raise MitigationError(f"{kind}: {stopped.result.summary} ({stopped.cause})") from None
    if not dry_run:
        _record(settings, result, now=now, actor=actor, incident_id=incident_id)
    return result


def _record(
    settings: Settings,
    result: MitigationResult,
    *,
    now: datetime,
    actor: str,
    incident_id: str | None,
) -> None:
    firestore_client(settings).collection(Collections.AUDIT).add(
        {
            "action": f"mitigation.{result.kind}",
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


def is_flag_open(settings: Settings, flag: str) -> bool:
    """Return whether circuit breaker ``flag`` is open (what the app checks before calling)."""
    snap = firestore_client(settings).collection(Collections.FLAGS).document(flag).get()
    return bool(snap.exists and (snap.to_dict() or {}).get("open"))
