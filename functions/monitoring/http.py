"""HTTP plumbing shared by every HTTP function: JSON responses and the error guard.

Handlers in the package take a Flask ``Request`` (what the functions SDK passes) and return
a Flask ``Response``. ``guarded`` is the one place an exception becomes a status code: a
``FirewatchError`` answers with its own status and message; anything else is logged with its
traceback and answers 500 with a generic body, so no stack trace or secret reaches a caller.
"""

from __future__ import annotations

import functools
import json
import logging
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from flask import Request, Response

from monitoring.errors import FirewatchError, RateLimited

__all__ = ["guarded", "json_response", "read_json"]

logger = logging.getLogger(__name__)

Handler = Callable[[Request], Response]


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    response = Response(
        json.dumps(body, default=str, separators=(",", ":")),
        status=status,
        mimetype="application/json",
    )
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def error_response(error: FirewatchError) -> Response:
    headers = {}
    if isinstance(error, RateLimited) and error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    if error.status_code == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="firewatch"'
    return json_response({"error": str(error)}, error.status_code, headers)


def guarded(name: str) -> Callable[[Handler], Handler]:
    """Wrap an HTTP handler so every failure becomes a safe JSON answer."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def run(request: Request) -> Response:
            try:
                return handler(request)
            except FirewatchError as error:
                if error.status_code >= 500:
                    logger.error("%s failed: %s", name, error, exc_info=True)
                return error_response(error)
            except Exception:
                logger.error("%s crashed", name, exc_info=True, extra={"function": name})
                return json_response({"error": "internal error"}, 500)

        return run

    return decorate


def _gunzip(raw: bytes, max_bytes: int) -> bytes:
    from monitoring.errors import InputError, PayloadTooLarge

    inflater = zlib.decompressobj(wbits=31)  # 31: a gzip header and trailer
    try:
        body = inflater.decompress(raw, max_bytes + 1)
    except zlib.error:
        raise InputError("body is not valid gzip") from None
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"body inflates to more than {max_bytes} bytes")
    if not inflater.eof:
        raise InputError("body is not valid gzip: it ends early")
    return body


def read_json(request: Request, max_bytes: int) -> Any:
    """Return the parsed JSON body, refusing bodies over ``max_bytes`` before reading them.

    A body sent with ``Content-Encoding: gzip`` is inflated, and ``max_bytes`` bounds what it
    inflates to as well, so a small bomb cannot expand past the limit. Raises
    ``PayloadTooLarge`` or ``InputError`` with a message a client can act on.
    """
    from monitoring.errors import InputError, PayloadTooLarge

    encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise InputError(f"Content-Encoding {encoding[:40]!r} is not supported; send gzip or none")
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise PayloadTooLarge(f"body is larger than {max_bytes} bytes")
    raw = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"body is larger than {max_bytes} bytes")
    if encoding == "gzip" and raw:
        raw = _gunzip(raw, max_bytes)
    if not raw:
        raise InputError("body is empty; send a JSON document")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"body is not valid JSON: {error}") from None
    except RecursionError:
        # A few hundred KB of "[[[[..." is within the size limit but deeper than the parser's
        # stack; that is the client's problem, not a 500.
        raise InputError("body is nested too deeply") from None
