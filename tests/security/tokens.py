"""Unsigned Firebase ID tokens for tests.

The Firestore emulator and the Admin SDK in emulator mode (``FIREBASE_AUTH_EMULATOR_HOST``
set) accept JWTs with ``alg: none`` and an empty signature. The Admin SDK still checks the
audience, issuer and subject, so ``id_token`` fills those in for the project.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from tests.conftest import PROJECT


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def id_token(
    uid: str,
    *,
    project: str = PROJECT,
    issued_at: float | None = None,
    lifetime_s: float = 3600,
    **claims: Any,
) -> str:
    """Return an unsigned ID token for ``uid`` with the given custom claims.

    ``issued_at`` defaults to now; a negative ``lifetime_s`` gives an expired token.
    """
    iat = int(time.time() if issued_at is None else issued_at)
    payload = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "sub": uid,
        "user_id": uid,
        "iat": iat,
        "auth_time": iat,
        "exp": int(iat + lifetime_s),
        **claims,
    }
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
