"""Weekly capacity trends and the monthly restore drill, on the emulators."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.kpi.recorder import get_recorder
from monitoring.maintenance import jobs
from monitoring.maintenance.capacity import fit_line
from monitoring.store import Collections, firestore_client


def test_line_fit_projects_steady_growth() -> None:
    slope, last = fit_line([10.0, None, 30.0, 40.0]) or (0.0, 0.0)
    assert slope == pytest.approx(10.0)
    assert last == pytest.approx(40.0)
    assert fit_line([None, 5.0]) is None


def test_weekly_report_shows_growth_and_projects_cost_over_budget(
    settings: Settings, clock: ManualClock
) -> None:
    recorder = get_recorder(settings)
    midnight = clock.now().replace(hour=0, minute=0)
    for back in range(1, 29):
        day = midnight - timedelta(days=back)
        grown = 28 - back  # 0 four weeks ago, 27 yesterday
        at = day + timedelta(hours=10)
        recorder.record(
            "prompt_executions", 100 + 10 * grown, {"model": "m", "status": "ok"}, at=at
        )
        recorder.record("prompt_cost_usd", 20 + 1.5 * grown, {"model": "m"}, at=at)
        recorder.record("storage_used_bytes", (1 + grown / 10) * 2**30, {"bucket": "b"}, at=at)
    recorder.flush(clock.now())

    report = jobs.run_weekly(settings, clock.now(), send=False)
    capacity = report.section("capacity")
    rows = {row[0]: row for row in capacity.rows}
    # Week averages: days 21..27 against 14..20 of growth.
    assert rows["Prompt executions per day"][1:4] == ["270", "340", "+25.9%"]
    assert rows["Cost per day"][4] == "$105.50"  # 20 + 1.5 * (27 + 30)
    assert rows["Storage used"][2] == "3.4 GB"
    assert capacity.status == "warn"
    assert "over the $50.00 budget" in capacity.recommendations[0]
    assert report.id == "weekly-2026-W09"


def _seed_app_data(settings: Settings, at: datetime) -> None:
    db = firestore_client(settings)
    db.collection("users").document("u1").set({"name": "Ada", "joined": at})
    db.collection("users").document("u2").set({"name": "Bo", "tags": ["a", "b"]})
    db.collection("prompts").document("p1").set({"userId": "u1", "text": "hello"})


def test_monthly_restore_drill_restores_the_newest_backup_into_scratch_and_matches(
    settings: Settings, clock: ManualClock
) -> None:
    from monitoring.backups.jobs import run_scheduled_backup

    _seed_app_data(settings, clock.now())
    backup = run_scheduled_backup(settings, clock.now(), clock=clock)
    assert backup is not None and backup.state == "succeeded"

    clock.advance(days=30)
    report = jobs.run_monthly(settings, clock.now(), send=False)
    drill = report.section("restore_drill")
    assert drill.status == "ok", drill.summary + str(drill.error)
    rows = {row[0]: row[1] for row in drill.rows}
    assert rows["Documents restored"] == f"{backup.documents} of {backup.documents}"
    assert rows["Scratch namespace"].startswith("fw_drill/")
    # The scratch copy is gone, and the live data was never touched.
    assert list(firestore_client(settings).collection("fw_drill").list_documents()) == []
    users = firestore_client(settings).collection("users").document("u2").get().to_dict()
    assert users == {"name": "Bo", "tags": ["a", "b"]}


def test_monthly_drill_without_backup_fails_and_the_rest_still_runs(
    settings: Settings, clock: ManualClock
) -> None:
    from monitoring.incidents import service

    service.open_incident(settings, title="Search slow", now=clock.now(), actor="ana")
    clock.advance(days=31)
    report = jobs.run_monthly(settings, clock.now(), send=False)
    assert report.section("restore_drill").status == "fail"
    assert "No succeeded logical backup" in report.section("restore_drill").summary
    incidents = report.section("incidents")
    assert incidents.rows[0][2:4] == ["Search slow", "open"]
    stored = firestore_client(settings).collection(Collections.REPORTS).document(report.id).get()
    assert stored.exists and report.id == "monthly-2026-03"
