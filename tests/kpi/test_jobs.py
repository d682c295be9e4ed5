"""Compaction: minutes fold into hours, hours into days, with totals kept identical."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from google.cloud import firestore

from monitoring.config import Settings
from monitoring.kpi.jobs import run_compaction
from monitoring.kpi.query import KpiQuery, Window
from monitoring.kpi.recorder import Recorder
from monitoring.store import Collections
from tests.conftest import START

API = {"endpoint": "/prompts", "method": "GET"}
NOW = START + timedelta(minutes=15)


def _fill(recorder: Recorder, first_minute: Any, minutes: int) -> list[float]:
    rng = random.Random(3)
    values = []
    for minute in range(minutes):
        for _ in range(20):
            value = rng.lognormvariate(4, 1)
            values.append(value)
            at = first_minute + timedelta(minutes=minute, seconds=rng.randrange(60))
            recorder.record("api_response_time_ms", value, API, at=at)
            recorder.record("api_requests", 1, {**API, "status_class": "2xx"}, at=at)
        recorder.record("db_connections", minute, at=first_minute + timedelta(minutes=minute))
    recorder.flush()
    return values


def _answers(kpis: KpiQuery, window: Window) -> dict[str, float | None]:
    return {
        "count": kpis.aggregate("api_response_time_ms", "count", window),
        "sum": kpis.aggregate("api_response_time_ms", "sum", window),
        "min": kpis.aggregate("api_response_time_ms", "min", window),
        "max": kpis.aggregate("api_response_time_ms", "max", window),
        "p95": kpis.aggregate("api_response_time_ms", "quantile", window, q=0.95),
        "requests": kpis.aggregate("api_requests", "sum", window),
        "last": kpis.aggregate("db_connections", "last", window),
    }


def _resolutions(db: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for snap in db.collection(Collections.ROLLUPS).stream():
        res = snap.to_dict()["res"]
        counts[res] = counts.get(res, 0) + 1
    return counts


def test_minutes_older_than_retention_fold_into_hours_with_identical_totals(
    settings: Settings, recorder: Recorder, kpis: KpiQuery, db: Any
) -> None:
    old = (NOW - timedelta(days=8)).replace(minute=0)
    _fill(recorder, old + timedelta(minutes=30), 90)  # spans two hours
    _fill(recorder, NOW - timedelta(minutes=10), 5)  # recent: stays minute-level
    window = Window(old, old + timedelta(hours=3))
    before = _answers(kpis, window)

    result = run_compaction(settings, NOW)

    assert result.minutes_folded == 90 * 3
    assert result.hours_written == 2 * 3
    # The recent minutes keep their minute documents beside the hours written with them.
    assert _resolutions(db) == {"hour": 6 + 3, "minute": 15}
    assert _answers(kpis, window) == before


def test_a_second_compaction_run_changes_nothing(
    settings: Settings, recorder: Recorder, kpis: KpiQuery
) -> None:
    old = (NOW - timedelta(days=8)).replace(minute=0)
    _fill(recorder, old, 20)
    window = Window(old, old + timedelta(hours=1))
    run_compaction(settings, NOW)
    after_first = _answers(kpis, window)

    second = run_compaction(settings, NOW)

    assert (second.minutes_folded, second.hours_written) == (0, 0)
    assert _answers(kpis, window) == after_first


def test_hours_older_than_ninety_days_fold_into_days(
    settings: Settings, recorder: Recorder, kpis: KpiQuery, db: Any
) -> None:
    old = (NOW - timedelta(days=92)).replace(hour=22, minute=0)
    _fill(recorder, old, 180)  # 22:00 to 01:00 across midnight
    window = Window(old.replace(hour=0), old.replace(hour=0) + timedelta(days=2))
    before = _answers(kpis, window)

    result = run_compaction(settings, NOW)

    assert result.hours_folded == 3 * 3
    assert _resolutions(db) == {"day": 6}
    assert _answers(kpis, window) == before


def test_old_distinct_sets_keep_their_count(
    settings: Settings, recorder: Recorder, kpis: KpiQuery, db: Any
) -> None:
    old = NOW - timedelta(days=100)
    for user in ("a", "b", "c"):
        recorder.record("active_users", at=old, distinct_id=user)
    recorder.flush()

    result = run_compaction(settings, NOW)

    assert result.distinct_days_reduced == 1
    parent = next(iter(db.collection(Collections.DISTINCT).stream()))
    assert list(parent.reference.collection("ids").list_documents()) == []
    assert kpis.aggregate("active_users", "distinct", Window.utc_day(old)) == 3


def test_minutes_written_before_hours_existed_are_folded_not_just_deleted(
    settings: Settings, recorder: Recorder, kpis: KpiQuery, db: Any
) -> None:
    old = (NOW - timedelta(days=8)).replace(minute=0)
    _fill(recorder, old, 30)
    # Turn the first hour back into what an older Firewatch stored: minutes, no hour.
    for snap in db.collection(Collections.ROLLUPS).stream():
        data = snap.to_dict()
        if data["res"] == "hour":
            snap.reference.delete()
        else:
            snap.reference.update({"in_hour": firestore.DELETE_FIELD})
    minutes_only = Window(old, old + timedelta(minutes=30))
    before = _answers(kpis, minutes_only)

    result = run_compaction(settings, NOW)

    assert result.minutes_merged == result.minutes_folded == 30 * 3
    assert _resolutions(db) == {"hour": 3}
    # The hour adds the minute sums in another order than a query over minutes: the last
    # bit of a float sum may differ, nothing more.
    assert _answers(kpis, Window(old, old + timedelta(hours=1))) == pytest.approx(before, rel=1e-12)


def test_minutes_already_in_their_hour_are_deleted_without_counting_twice(
    settings: Settings, recorder: Recorder, kpis: KpiQuery, db: Any
) -> None:
    old = (NOW - timedelta(days=8)).replace(minute=0)
    _fill(recorder, old, 30)
    hour = Window(old, old + timedelta(hours=1))
    before = _answers(kpis, hour)

    result = run_compaction(settings, NOW)

    assert (result.minutes_folded, result.minutes_merged) == (30 * 3, 0)
    assert _resolutions(db) == {"hour": 3}
    assert _answers(kpis, hour) == before
    hours = [s.to_dict() for s in db.collection(Collections.ROLLUPS).stream()]
    assert [h["has_minutes"] for h in hours] == [False] * 3


def test_retained_minutes_from_before_hours_existed_are_backfilled_once(
    settings: Settings, recorder: Recorder, kpis: KpiQuery, db: Any
) -> None:
    recent = (NOW - timedelta(days=2)).replace(minute=0)
    _fill(recorder, recent, 60)
    hour = Window(recent, recent + timedelta(hours=1))
    before = _answers(kpis, hour)
    for snap in db.collection(Collections.ROLLUPS).stream():
        if snap.to_dict()["res"] == "hour":
            snap.reference.delete()
        else:
            snap.reference.update({"in_hour": firestore.DELETE_FIELD})
    assert kpis.aggregate("api_requests", "sum", hour) is None  # the whole hour reads hours

    first = run_compaction(settings, NOW)
    second = run_compaction(settings, NOW + timedelta(hours=1))

    assert (first.minutes_backfilled, first.minutes_folded) == (60 * 3, 0)
    assert second.minutes_backfilled == 0
    assert _resolutions(db) == {"hour": 3, "minute": 60 * 3}
    assert _answers(kpis, hour) == pytest.approx(before, rel=1e-12)
    # Edges still read the (kept) minutes, which now say they are in their hour.
    edge = Window(recent + timedelta(minutes=10), recent + timedelta(minutes=50))
    assert kpis.aggregate("api_requests", "sum", edge) == 40 * 20
