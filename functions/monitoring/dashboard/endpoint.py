"""The admin dashboard HTTP function.

Admins reach it with the API key (``X-API-Key``) or a Firebase ID token with the admin claim,
as every admin endpoint; a browser signs in once with the API key through a small form and
then carries a ``__session`` cookie (the one cookie Firebase Hosting forwards to functions)
holding an HMAC of the key, never the key itself. ``?range=1h|24h|7d|30d``;
``?format=json`` returns the same data as JSON.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cache
from typing import TYPE_CHECKING, Any

from flask import Response, redirect

from monitoring.auth import authenticate
from monitoring.errors import AuthError, Forbidden, InputError
from monitoring.http import json_response

if TYPE_CHECKING:
    import jinja2
    from flask import Request

    from monitoring.clock import Clock
    from monitoring.config import Settings
    from monitoring.dashboard.data import Chart

__all__ = ["handle"]

COOKIE = "__session"
REFRESH_S = 60


@cache
def _templates() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("monitoring.dashboard", "templates"),
        autoescape=True,
    )


def _session_token(settings: Settings) -> str | None:
    if settings.api_key is None or not settings.api_key.get_secret_value():
        return None
    key = settings.api_key.get_secret_value().encode()
    return hmac.new(key, b"firewatch-dashboard-session", hashlib.sha256).hexdigest()


def _has_session(request: Request, settings: Settings) -> bool:
    expected = _session_token(settings)
    presented = request.cookies.get(COOKIE, "")
    return bool(expected) and hmac.compare_digest(presented.encode(), (expected or "").encode())


def _login_page(failed: bool, status: int) -> Response:
    page = _templates().get_template("login.html.j2").render(failed=failed)
    return Response(page, status=status, mimetype="text/html")


def _sign_in(request: Request, settings: Settings) -> Response:
    offered = request.form.get("api_key", "")
    expected = settings.api_key.get_secret_value() if settings.api_key else ""
    if not expected or not hmac.compare_digest(offered.encode(), expected.encode()):
        return _login_page(failed=True, status=401)
    # Back to the same page and range; only our own path, never a caller-supplied URL.
    target = request.path + (f"?{request.query_string.decode()}" if request.query_string else "")
    response = redirect(target or "/dashboard", code=303)
    response.set_cookie(
        COOKIE,
        _session_token(settings) or "",
        max_age=12 * 3600,
        httponly=True,
        secure=settings.environment == "production",
        samesite="Strict",
    )
    return response  # type: ignore[return-value]


def handle(request: Request, settings: Settings, clock: Clock) -> Response:
    """Serve the dashboard to admins; everyone else gets 401/403 (a sign-in form in HTML)."""
    from monitoring.dashboard.data import RANGES, gather

    if request.method == "POST":
        return _sign_in(request, settings)
    if request.method not in ("GET", "HEAD"):
        raise InputError("use GET (or POST the sign-in form)")

    wants_json = request.args.get("format") == "json"
    if not _has_session(request, settings):
        try:
            principal = authenticate(request, settings)
        except AuthError:
            if wants_json:
                raise
            return _login_page(failed=False, status=401)
        if principal is None:
            if wants_json:
                raise AuthError("unauthorized")
            return _login_page(failed=False, status=401)
        if not principal.admin:
            raise Forbidden("forbidden")

    range_name = request.args.get("range", "24h")
    if range_name not in RANGES:
        raise InputError(f"range must be one of {', '.join(RANGES)}")

    data = gather(settings, clock.now(), range_name)
    if wants_json:
        return json_response(_as_json(data))
    page = (
        _templates()
        .get_template("dashboard.html.j2")
        .render(
            data=data,
            ranges=list(RANGES),
            project=settings.project_id,
            refresh_s=REFRESH_S,
            fmt=_format,
            svg=_svg,
        )
    )
    response = Response(page, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'"
    )
    return response


def _format(value: float | None, unit: str) -> str:
    from monitoring.dashboard.svg import format_value

    return format_value(value, unit)


def _svg(chart: Chart) -> str:
    from monitoring.dashboard.svg import line_chart

    return line_chart(chart.points, title=chart.title, unit=chart.unit, threshold=chart.threshold)


def _as_json(data: Any) -> dict[str, Any]:
    return {
        "range": data.range_name,
        "generated_at": data.generated_at,
        "charts": {
            c.key: {
                "title": c.title,
                "unit": c.unit,
                "current": c.current,
                "threshold": c.threshold,
                "points": [[when.isoformat(), value] for when, value in c.points],
            }
            for c in data.charts
        },
        "alerts": data.alerts,
        "silences": data.silences,
        "backups": data.backups,
        "incidents": data.incidents,
        "unavailable": data.unavailable,
    }
