"""Who may call the admin HTTP functions.

Two ways in: a Firebase ID token (``Authorization: Bearer ...``) whose ``admin`` claim is
true, verified with the Admin SDK; or the configured API key in ``X-API-Key``, compared in
constant time. A missing or unverifiable credential is 401; a valid token without the
admin claim is 403. Neither answer says more than that.

Against the emulators the Admin SDK accepts unsigned tokens (``FIREBASE_AUTH_EMULATOR_HOST``
set) and then checks neither signature nor expiry. Two guards keep that from mattering:
unsigned acceptance is refused outright unless the settings point at the Firestore emulator,
and the expiry and issue time are checked here against the process clock whatever the SDK
did.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitoring.errors import AuthError, Forbidden

if TYPE_CHECKING:
    from flask import Request

    from monitoring.config import Settings

__all__ = ["Principal", "authenticate", "require_admin"]

logger = logging.getLogger(__name__)

# Firebase ID tokens are about 1 KB; anything far longer is not one, so it is refused
# before any parsing.
MAX_TOKEN_CHARS = 8192
# Tolerance for a client clock slightly ahead of ours when checking ``iat``.
CLOCK_SKEW_S = 60


@dataclass(frozen=True)
class Principal:
    uid: str
    admin: bool
    method: str  # "api_key" or "id_token"


def authenticate(
    request: Request, settings: Settings, *, now: datetime | None = None
) -> Principal | None:
    """Return who sent ``request``, or ``None`` when it carries no credential.

    Raises ``AuthError`` when a credential is present but not valid. ``now`` (default: the
    process clock) is what token expiry is judged against.
    """
    key = request.headers.get("X-API-Key")
    if key is not None:
        expected = settings.api_key.get_secret_value() if settings.api_key else ""
        if expected and keys_match(key, expected):
            return Principal(uid="api-key", admin=True, method="api_key")
        raise AuthError("unauthorized")

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
        raise AuthError("unauthorized")
    return _verify_id_token(token, settings, now)


def keys_match(given: str, expected: str) -> bool:
    """Compare a presented key with the configured one in constant time.

    Both sides are hashed first, so neither the time taken nor an early length mismatch
    tells a caller how long the real key is.
    """
    digest = hashlib.sha256
    given_bytes = given.encode("utf-8", "surrogateescape")
    return hmac.compare_digest(digest(given_bytes).digest(), digest(expected.encode()).digest())


def require_admin(
    request: Request, settings: Settings, *, now: datetime | None = None
) -> Principal:
    """Return the admin principal of ``request``; raise ``AuthError``/``Forbidden`` otherwise."""
    principal = authenticate(request, settings, now=now)
    if principal is None:
        raise AuthError("unauthorized")
    if not principal.admin:
        raise Forbidden("forbidden")
    return principal


def _verify_id_token(token: str, settings: Settings, now: datetime | None) -> Principal:
    from firebase_admin import auth

    from monitoring.store import firebase_app

    if os.environ.get("FIREBASE_AUTH_EMULATOR_HOST") and not settings.is_emulated:
        # The SDK would accept unsigned tokens from anyone. Refuse every token instead.
        logger.error("FIREBASE_AUTH_EMULATOR_HOST is set outside the emulators; refusing tokens")
        raise AuthError("unauthorized")
    try:
        claims = auth.verify_id_token(token, app=firebase_app(settings))
    except (ValueError, auth.InvalidIdTokenError, auth.ExpiredIdTokenError) as error:
        # The reason stays in our logs at DEBUG, never in the answer.
        logger.debug("id token refused: %s", type(error).__name__)
        raise AuthError("unauthorized") from None
    except Exception as error:  # certificate fetch failures and the like
        logger.warning("id token verification failed: %s", type(error).__name__)
        raise AuthError("unauthorized") from None
    uid = str(claims.get("uid") or claims.get("sub") or "")
    if not uid or not _current(claims, now):
        raise AuthError("unauthorized")
    return Principal(uid=uid, admin=claims.get("admin") is True, method="id_token")


def _current(claims: dict[str, Any], now: datetime | None) -> bool:
    """Return whether the token is inside its lifetime: issued, and not yet expired.

    The SDK checks this for signed tokens, but not in emulator mode; a token without
    numeric ``exp`` and ``iat`` claims is not a Firebase ID token.
    """
    from monitoring.runtime import get_clock

    exp, iat = claims.get("exp"), claims.get("iat")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (exp, iat)):
        logger.debug("id token refused: no numeric exp/iat")
        return False
    at = (now or get_clock().now()).timestamp()
    if at >= float(exp) or float(iat) > at + CLOCK_SKEW_S:  # type: ignore[arg-type]
        logger.debug("id token refused: outside its lifetime")
        return False
    return True
