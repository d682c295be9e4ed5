"""The public status page: JSON and HTML from the emulator, and in headless chromium."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask, Request, request

from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.incidents import service
from monitoring.incidents.status_page import handle
from monitoring.notifiers.model import Notification
from monitoring.store import Collections, firestore_client
from tests.browser import CHROMIUM, NO_CHROMIUM, chromium, serving

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


def seed(settings: Settings, clock: ManualClock) -> str:
    """Store a health summary, uptime history, an old resolved incident and an open one."""
    status = firestore_client(settings).collection(Collections.STATUS)
    status.document("components").set(
        {
            "status": "degraded",
            "components": {"api": "healthy", "firestore": "degraded", "storage": "healthy"},
            "updated_at": clock.now(),
        }
    )
    today = clock.now().date()
    history = {(today - timedelta(days=d)).isoformat(): 1.0 for d in range(1, 40)}
    history[(today - timedelta(days=3)).isoformat()] = 0.9
    status.document("uptime").set({"components": {"api": history, "storage": history}})

    old = service.open_incident(
        settings,
        title="Slow uploads",
        now=clock.now() - timedelta(days=10),
        actor="ana@example.com",
    )
    service.resolve(
        settings,
        old.id,
        now=clock.now() - timedelta(days=10) + timedelta(hours=1),
        actor="ana@example.com",
        message="Uploads are fast again.",
    )
    firing = Notification(
        key="alert:api_errors_high",
        kind="alert",
        severity="critical",
        title="API error rate above 10%",
        labels={"alertname": "api_errors_high", "service": "api", "user_id": "uid-4242"},
        created_at=clock.now(),
    )
    incident = service.handle_alert(settings, firing, clock.now())
    assert incident is not None
    service.update(
        settings,
        incident.id,
        message="We found a bad deploy and are rolling it back.",
        now=clock.now() + timedelta(minutes=5),
        actor="bo@example.com",
        status="identified",
    )
    service.update(
        settings,
        incident.id,
        message="private note: token abc",
        now=clock.now(),
        actor="bo@example.com",
        public=False,
    )
    return incident.id


def page(settings: Settings, clock: ManualClock, path: str, **headers: str):  # type: ignore[no-untyped-def]
    app = Flask(__name__)
    with app.test_request_context(path, headers=headers):
        return handle(request, settings, clock)


def test_json_lists_components_incidents_and_uptime_without_private_data(
    settings: Settings, clock: ManualClock
) -> None:
    incident_id = seed(settings, clock)
    response = page(settings, clock, "/?format=json")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    components = {c["name"]: c for c in body["components"]}
    assert (components["api"]["status"], components["firestore"]["status"]) == (
        "degraded",  # healthy by probe, but an open incident affects it
        "degraded",
    )
    assert len(components["api"]["days"]) == 90
    assert components["api"]["uptime_90d"] == pytest.approx((38 + 0.9) / 39)
    assert components["firestore"]["uptime_90d"] is None

    [current] = body["open_incidents"]
    assert current["id"] == incident_id
    assert [u["status"] for u in current["updates"]] == ["identified", "investigating"]
    assert [p["title"] for p in body["past_incidents"]] == ["Slow uploads"]

    text = response.get_data(as_text=True)
    for secret in ("example.com", "uid-4242", "token abc", "alertname", "firewatch"):
        assert secret not in text


def test_accept_header_chooses_json_and_browsers_get_html(
    settings: Settings, clock: ManualClock
) -> None:
    seed(settings, clock)
    as_json = page(settings, clock, "/", Accept="application/json")
    as_html = page(settings, clock, "/", Accept="text/html,application/xhtml+xml,*/*;q=0.8")
    assert as_json.mimetype == "application/json"
    assert as_html.mimetype == "text/html"
    html = as_html.get_data(as_text=True)
    assert "API error rate above 10%" in html
    assert "<script" not in html
    assert 'name="viewport"' in html
    assert as_html.headers["Cache-Control"] == "public, max-age=60"


def test_page_with_no_data_says_so(settings: Settings, clock: ManualClock) -> None:
    html = page(settings, clock, "/").get_data(as_text=True)
    assert "No components reported yet." in html
    assert "Status unknown" in html


@pytest.fixture
def served(settings: Settings, clock: ManualClock) -> Iterator[str]:
    app = Flask("status")

    @app.route("/")
    def index():  # type: ignore[no-untyped-def]
        req: Request = request
        return handle(req, settings, clock)

    with serving(app) as url:
        yield url + "/"


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_status_page_renders_the_incident_in_chromium_on_a_phone(
    settings: Settings, clock: ManualClock, served: str, tmp_path: Path
) -> None:
    incident_id = seed(settings, clock)

    # The page carries no script (and its CSP forbids any), so this is the page with JS off.
    dom = chromium(served, tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-500:]
    assert f'id="{incident_id}"' in dom.stdout
    assert "We found a bad deploy and are rolling it back." in dom.stdout
    assert "Some systems are degraded" in dom.stdout

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "status_page_phone.png"
    shot.unlink(missing_ok=True)
    done = chromium(served, tmp_path / "profile", f"--screenshot={shot}", "--window-size=390,844")
    assert done.returncode == 0, done.stderr[-500:]
    assert shot.stat().st_size > 5_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_incident_open_longer_than_the_page_shows_is_still_current(
    settings: Settings, clock: ManualClock
) -> None:
    now = clock.now()
    firing = Notification(
        key="alert:storage_full",
        kind="alert",
        severity="critical",
        title="Storage nearly full",
        labels={"alertname": "storage_full", "service": "storage"},
        created_at=now - timedelta(days=120),
    )
    lasting = service.handle_alert(settings, firing, now - timedelta(days=120))
    assert lasting is not None
    long_fixed = service.open_incident(
        settings, title="Slow exports", now=now - timedelta(days=100), actor="ana@example.com"
    )
    service.resolve(
        settings, long_fixed.id, now=now - timedelta(days=30), actor="ana@example.com", message="ok"
    )
    forgotten = service.open_incident(
        settings, title="Old outage", now=now - timedelta(days=200), actor="ana@example.com"
    )
    service.resolve(
        settings, forgotten.id, now=now - timedelta(days=95), actor="ana@example.com", message="ok"
    )
    firestore_client(settings).collection(Collections.STATUS).document("components").set(
        {"components": {"storage": "healthy"}, "updated_at": now}
    )

    body = page(settings, clock, "/?format=json").get_json()

    # Opened 120 days ago and still open: it was missing, and the page said all was well.
    assert [i["id"] for i in body["open_incidents"]] == [lasting.id]
    assert body["status"] == "degraded"
    assert [c["status"] for c in body["components"]] == ["degraded"]
    # Resolved inside the 90 days shown, though opened before them.
    assert [i["title"] for i in body["past_incidents"]] == ["Slow exports"]


def test_a_component_summary_the_probes_stopped_writing_reads_unknown(
    settings: Settings, clock: ManualClock
) -> None:
    status = firestore_client(settings).collection(Collections.STATUS)
    status.document("components").set(
        {
            "status": "healthy",
            "components": {"firestore": "healthy", "storage": "healthy"},
            "updated_at": clock.now() - timedelta(minutes=16),
        }
    )

    body = page(settings, clock, "/?format=json").get_json()

    assert {c["name"]: c["status"] for c in body["components"]} == {
        "firestore": "unknown",
        "storage": "unknown",
    }
    assert body["status"] == "unknown"
