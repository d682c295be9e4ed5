"""Who may call the admin HTTP functions.

Two ways in: a Firebase ID token (``Authorization: Bearer ...``) whose ``admin`` claim is
true, verified with the Admin SDK; or the configured API key in ``X-API-Key``, compared in
constant time. A missing or unverifiable credential is 401; a valid token without the
admin claim is 403. Neither answer says more than that.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitoring.errors import AuthError, Forbidden

if TYPE_CHECKING:
    from flask import Request

    from monitoring.config import Settings

__all__ = ["Principal", "authenticate", "require_admin"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    uid: str
    admin: bool
    method: str  # "api_key" or "id_token"


def authenticate(request: Request, settings: Settings) -> Principal | None:
    """Return who sent ``request``, or ``None`` when it carries no credential.

    Raises ``AuthError`` when a credential is present but not valid.
    """
    key = request.headers.get("X-API-Key")
    if key is not None:
        expected = settings.api_key.get_secret_value() if settings.api_key else ""
        if expected and hmac.compare_digest(key.encode(), expected.encode()):
            return Principal(uid="api-key", admin=True, method="api_key")
        raise AuthError("unauthorized")

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("unauthorized")
    return _verify_id_token(token.strip(), settings)


def require_admin(request: Request, settings: Settings) -> Principal:
    """Return the admin principal of ``request``; raise ``AuthError``/``Forbidden`` otherwise."""
    principal = authenticate(request, settings)
    if principal is None:
        raise AuthError("unauthorized")
    if not principal.admin:
        raise Forbidden("forbidden")
    return principal


def _verify_id_token(token: str, settings: Settings) -> Principal:
    from firebase_admin import auth

    from monitoring.store import firebase_app

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
    if not uid:
        raise AuthError("unauthorized")
    return Principal(uid=uid, admin=claims.get("admin") is True, method="id_token")
