"""Cloud Monitoring export: off by default; the request matches a recorded body.

There is no emulator for Cloud Monitoring. ``data/export_request.json`` was recorded from
this exporter and checked field by field against the REST reference of
``projects.timeSeries.create`` (GAUGE/DOUBLE points on the ``global`` resource).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from monitoring.config import Settings
from monitoring.errors import DeliveryError
from monitoring.kpi.export import export_pending
from monitoring.kpi.jobs import run_compaction
from monitoring.kpi.recorder import Recorder
from monitoring.localstack.catchers import HttpReceiver, Reply
from tests.conftest import PROJECT, START

RECORDED = Path(__file__).parent / "data" / "export_request.json"
NOW = START + timedelta(minutes=5)
PATH = f"/v3/projects/{PROJECT}/timeSeries"


def _exporting(settings: Settings, receiver: HttpReceiver) -> Settings:
    kpi = settings.kpi.model_copy(update={"export_enabled": True, "export_endpoint": receiver.url})
    return settings.model_copy(update={"kpi": kpi})


def _record(recorder: Recorder) -> None:
    minute = START + timedelta(minutes=1)
    for value in (120.0, 80.0, 100.0):
        recorder.record(
            "api_response_time_ms", value, {"endpoint": "/p", "method": "GET"}, at=minute
        )
    recorder.record(
        "api_requests", 3, {"endpoint": "/p", "method": "GET", "status_class": "2xx"}, at=minute
    )
    recorder.record("db_connections", 9, at=minute + timedelta(seconds=10))
    recorder.record("active_users", at=minute, distinct_id="u1")  # distinct: not exported
    recorder.flush()


def test_export_sends_the_recorded_request(
    settings: Settings, recorder: Recorder, receiver: HttpReceiver
) -> None:
    _record(recorder)
    with httpx.Client() as http:
        written = export_pending(
            _exporting(settings, receiver), NOW, http=http, token=lambda: "token-123"
        )

    sent = receiver.requests(PATH)
    assert written == 3
    assert len(sent) == 1
    assert sent[0].header("Authorization") == "Bearer token-123"
    assert sent[0].json() == json.loads(RECORDED.read_text())


def test_export_resumes_after_the_minutes_already_sent(
    settings: Settings, recorder: Recorder, receiver: HttpReceiver
) -> None:
    _record(recorder)
    exporting = _exporting(settings, receiver)
    export_pending(exporting, NOW, token=lambda: "t")

    assert export_pending(exporting, NOW + timedelta(minutes=1), token=lambda: "t") == 0
    assert len(receiver.requests(PATH)) == 1


def test_a_refused_export_raises_a_permanent_delivery_error(
    settings: Settings, recorder: Recorder, receiver: HttpReceiver
) -> None:
    _record(recorder)
    receiver.script(PATH, Reply(status=403, body={"error": {"code": 403}}))

    with pytest.raises(DeliveryError) as raised:
        export_pending(_exporting(settings, receiver), NOW, token=lambda: "t")

    assert raised.value.permanent is True
    assert "403" in str(raised.value)


def test_compaction_does_not_export_by_default(
    settings: Settings, recorder: Recorder, receiver: HttpReceiver
) -> None:
    _record(recorder)
    configured = settings.model_copy(
        update={"kpi": settings.kpi.model_copy(update={"export_endpoint": receiver.url})}
    )

    result = run_compaction(configured, NOW)

    assert result.exported_series == 0
    assert receiver.requests() == []


def test_minutes_too_old_for_cloud_monitoring_are_skipped_not_retried_forever(
    settings: Settings, receiver: HttpReceiver
) -> None:
    exporting = _exporting(settings, receiver)
    recorder = Recorder(exporting)
    recorder.record("sessions", at=START + timedelta(minutes=1))
    recorder.flush()
    export_pending(exporting, NOW, token=lambda: "t")
    # The export then stops for two days (an outage, or export_enabled switched off) ...
    recorder.record("sessions", at=START + timedelta(minutes=10))
    later = START + timedelta(days=2)
    recorder.record("sessions", at=later)
    recorder.flush()

    written = export_pending(exporting, later + timedelta(minutes=5), token=lambda: "t")

    # ... and the minute of two days ago is refused by Cloud Monitoring (end times may be at
    # most 25 hours old) with a 400: sent first, it stopped every later run at that minute.
    ends = [
        r.json()["timeSeries"][0]["points"][0]["interval"]["endTime"]
        for r in receiver.requests(PATH)
    ]
    assert written == 1
    assert ends == ["2026-03-02T12:02:00Z", "2026-03-04T12:01:00Z"]
