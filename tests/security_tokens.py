"""Unsigned Firebase ID tokens, which firebase_admin accepts only in emulator mode."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

PROJECT = "demo-firewatch-test"


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def unsigned_id_token(
    uid: str, *, project: str = PROJECT, expires_in: int = 3600, **claims: Any
) -> str:
    now = int(time.time())
    payload = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "auth_time": now - 10,
        "iat": now - 10,
        "exp": now + expires_in,
        "sub": uid,
        "user_id": uid,
        **claims,
    }
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."
