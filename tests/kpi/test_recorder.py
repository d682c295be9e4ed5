"""The recorder: cheap in-memory aggregation, one merged document per series-minute."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from monitoring.config import Settings
from monitoring.kpi.query import KpiQuery, Window
from monitoring.kpi.recorder import (
    Recorder,
    RecordError,
    get_recorder,
    record_invocation,
    track_api_performance,
)
from monitoring.kpi.rollup import Rollup, doc_id
from monitoring.store import Collections
from tests.conftest import START

API = {"endpoint": "/prompts", "method": "GET"}
MINUTE = Window(START, START + timedelta(minutes=1))
LATER = START + timedelta(minutes=7)


def _docs(db: Any) -> dict[str, int]:
    """Stored rollup documents per resolution."""
    counts: dict[str, int] = {}
    for snap in db.collection(Collections.ROLLUPS).stream():
        res = snap.to_dict()["res"]
        counts[res] = counts.get(res, 0) + 1
    return counts


def test_many_events_write_one_document_per_series_minute_and_series_hour(
    recorder: Recorder, db: Any
) -> None:
    for i in range(1000):
        recorder.record(
            "api_response_time_ms", 10 + i % 50, API, at=START + timedelta(milliseconds=i)
        )
        recorder.record("sessions", at=START + timedelta(seconds=70))

    written = recorder.flush()
    for _ in range(1000):
        recorder.record("sessions", at=START + timedelta(seconds=80))
    again = recorder.flush()

    # The first flush also lists each metric's new label set in fw_series (one document per
    # metric); later flushes of known series write their rollups alone.
    assert written == 4 + 2
    assert again == 2
    assert _docs(db) == {"minute": 2, "hour": 2}


def test_flushing_one_minute_twice_adds_into_the_same_document(
    recorder: Recorder, kpis: KpiQuery, db: Any
) -> None:
    recorder.record("api_response_time_ms", 100, API, at=START)
    recorder.flush()
    recorder.record("api_response_time_ms", 300, API, at=START + timedelta(seconds=30))
    recorder.flush()

    assert _docs(db) == {"minute": 1, "hour": 1}
    assert kpis.aggregate("api_response_time_ms", "count", MINUTE) == 2
    assert kpis.aggregate("api_response_time_ms", "sum", MINUTE) == 400
    assert kpis.aggregate("api_response_time_ms", "max", MINUTE) == 300


def test_concurrent_flushes_of_one_minute_from_two_recorders_merge_exactly(
    settings: Settings, kpis: KpiQuery
) -> None:
    recorders = [Recorder(settings), Recorder(settings)]
    for n, recorder in enumerate(recorders):
        for i in range(500):
            recorder.record("api_response_time_ms", float(n * 1000 + i), API, at=START)
            recorder.record("api_requests", 1, {**API, "status_class": "2xx"}, at=START)
        # Another minute of the same hour, so both flushes also contend on the hour.
        recorder.record("api_requests", 1, {**API, "status_class": "2xx"}, at=LATER)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def flush(recorder: Recorder) -> None:
        barrier.wait()
        try:
            recorder.flush()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=flush, args=(r,)) for r in recorders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert kpis.aggregate("api_requests", "sum", MINUTE) == 1000
    assert kpis.aggregate("api_response_time_ms", "count", MINUTE) == 1000
    assert kpis.aggregate("api_response_time_ms", "sum", MINUTE) == sum(range(500)) + sum(
        range(1000, 1500)
    )
    assert kpis.aggregate("api_response_time_ms", "min", MINUTE) == 0
    assert kpis.aggregate("api_response_time_ms", "max", MINUTE) == 1499
    # The median of 0..499 and 1000..1499 sits at the gap: a merged sketch knows both halves.
    median = kpis.aggregate("api_response_time_ms", "quantile", MINUTE, q=0.5)
    assert median is not None and 490 <= median <= 1010
    # The hour documents got both flushes too: an hour window reads only them.
    hour = Window(START, START + timedelta(hours=1))
    hourly = KpiQuery(settings)
    assert hourly.aggregate("api_requests", "sum", hour) == 1002
    assert hourly.aggregate("api_response_time_ms", "count", hour) == 1000
    assert hourly.aggregate("api_response_time_ms", "sum", hour) == sum(range(500)) + sum(
        range(1000, 1500)
    )
    assert hourly.aggregate("api_response_time_ms", "quantile", hour, q=0.5) == median
    assert hourly.reads == 4  # one hour document per call, no minutes


def test_a_minute_written_before_hours_existed_joins_its_hour_on_the_next_flush(
    recorder: Recorder, settings: Settings, db: Any
) -> None:
    legacy = Rollup("sessions", (), "minute", START, count=2, sum=5.0, min=2.0, max=3.0)
    legacy.last, legacy.last_at = 3.0, START
    document = legacy.to_doc(START)
    del document["in_hour"]  # as stored before hour documents were written
    db.collection(Collections.ROLLUPS).document(doc_id("minute", "sessions", (), START)).set(
        document
    )

    recorder.record("sessions", 4, at=START + timedelta(seconds=5))
    recorder.flush()

    hour = KpiQuery(settings)
    assert hour.aggregate("sessions", "sum", Window(START, START + timedelta(hours=1))) == 9
    assert hour.reads == 1
    assert KpiQuery(settings).aggregate("sessions", "count", MINUTE) == 3


def test_counter_refuses_a_negative_value(recorder: Recorder) -> None:
    with pytest.raises(RecordError, match="counter and cannot go down"):
        recorder.record("sessions", -1)


def test_unknown_label_is_refused_by_name(recorder: Recorder) -> None:
    with pytest.raises(RecordError, match="no label 'colour'"):
        recorder.record("sessions", 1, {"colour": "red"})


def test_unknown_metric_is_refused(recorder: Recorder) -> None:
    with pytest.raises(RecordError, match="unknown metric 'nope'"):
        recorder.record("nope")


def test_new_label_set_over_the_cap_is_refused_and_not_stored(
    settings: Settings, kpis: KpiQuery
) -> None:
    capped = settings.model_copy(
        update={"kpi": settings.kpi.model_copy(update={"max_series_per_metric": 2})}
    )
    recorder = Recorder(capped)
    recorder.record("feature_usage", 1, {"feature": "a"}, at=START)
    recorder.record("feature_usage", 1, {"feature": "b"}, at=START)
    with pytest.raises(RecordError, match="new label values are refused"):
        recorder.record("feature_usage", 1, {"feature": "c"}, at=START)
    recorder.record("feature_usage", 1, {"feature": "a"}, at=START)  # known sets still work
    recorder.flush()

    assert kpis.aggregate_by("feature_usage", "sum", MINUTE, by="feature") == {"a": 2, "b": 1}


def test_size_bound_flushes_without_being_asked(settings: Settings, db: Any) -> None:
    small = settings.model_copy(
        update={"kpi": settings.kpi.model_copy(update={"flush_max_series": 3})}
    )
    recorder = Recorder(small)
    for i in range(3):
        recorder.record("page_load_ms", 100, {"page": f"/p{i}"}, at=START)

    assert recorder.pending == 0
    assert _docs(db) == {"minute": 3, "hour": 3}


def test_record_invocation_records_cold_and_warm_apart_and_flushes(
    settings: Settings, kpis: KpiQuery
) -> None:
    for is_cold, duration in ((True, 900.0), (False, 40.0), (False, 60.0)):
        record_invocation(
            settings,
            function="evaluate_alerts",
            duration_ms=duration,
            memory_mb=120,
            success=not is_cold,
            cold_start=is_cold,
            now=START,
        )

    assert get_recorder(settings).pending == 0
    warm = {"function": "evaluate_alerts", "cold_start": "false"}
    cold = {"function": "evaluate_alerts", "cold_start": "true"}
    assert kpis.aggregate("function_duration_ms", "avg", MINUTE, warm) == 50
    assert kpis.aggregate("function_duration_ms", "max", MINUTE, cold) == 900
    assert kpis.aggregate("function_errors", "sum", MINUTE) == 1
    assert kpis.aggregate("cold_starts", "sum", MINUTE) == 1
    assert kpis.aggregate("function_invocations", "sum", MINUTE) == 3


def test_distinct_users_are_counted_once_per_utc_day_across_recorders(
    settings: Settings, kpis: KpiQuery
) -> None:
    first, second = Recorder(settings), Recorder(settings)
    for user in ("ana", "bo", "ana", "cy"):
        first.record("active_users", at=START, distinct_id=user)
    for user in ("bo", "dee"):
        second.record("active_users", at=START + timedelta(hours=3), distinct_id=user)
    second.record("active_users", at=START + timedelta(days=1), distinct_id="ed")
    first.flush()
    second.flush()
    first.record("active_users", at=START, distinct_id="ana")  # a re-send changes nothing
    first.flush()

    assert kpis.aggregate("active_users", "distinct", Window.utc_day(START)) == 4
    two_days = Window(Window.utc_day(START).start, Window.utc_day(START).end + timedelta(days=1))
    assert kpis.aggregate("active_users", "distinct", two_days) == 5


def test_api_helper_counts_errors_refusals_and_status_classes(
    settings: Settings, kpis: KpiQuery
) -> None:
    for status in (200, 200, 403, 503):
        track_api_performance(
            settings,
            endpoint="/x",
            method="post",
            response_time_ms=20,
            status_code=status,
            at=START,
        )
    get_recorder(settings).flush()

    by_class = kpis.aggregate_by("api_requests", "sum", MINUTE, by="status_class")
    assert by_class == {"2xx": 2, "4xx": 1, "5xx": 1}
    assert kpis.aggregate("api_errors", "sum", MINUTE) == 1
    assert kpis.aggregate("auth_refused", "sum", MINUTE, {"status": "403"}) == 1


class _Unreachable:
    """A Firestore client whose every call fails, as during an outage."""

    def collection(self, name: str) -> Any:
        raise ConnectionError("firestore unreachable")


def test_a_failed_flush_keeps_the_data_for_the_next_one(
    settings: Settings, kpis: KpiQuery, db: Any
) -> None:
    recorder = Recorder(settings, client=_Unreachable())  # type: ignore[arg-type]
    recorder.record("sessions", 3, at=START)
    with pytest.raises(ConnectionError):
        recorder.flush()
    assert recorder.pending == 1

    recorder._client = db  # the outage ends
    recorder.flush()

    assert kpis.aggregate("sessions", "sum", MINUTE) == 3


def test_the_label_set_cap_holds_across_instances_and_cold_starts(
    settings: Settings, kpis: KpiQuery, db: Any
) -> None:
    # Each new instance (a cold start, or one of several running) starts with an empty
    # per-process count; the deployment-wide list in fw_series keeps the cap.
    capped = settings.model_copy(
        update={"kpi": settings.kpi.model_copy(update={"max_series_per_metric": 3})}
    )
    accepted = 0
    for instance in range(4):
        recorder = Recorder(capped)
        for page in range(5):
            try:
                recorder.record("page_load_ms", 100, {"page": f"/p{instance}-{page}"}, at=START)
                accepted += 1
            except RecordError:
                pass  # past this process's own cap
        recorder.flush()

    stored = kpis.aggregate_by("page_load_ms", "count", MINUTE, by="page")
    assert accepted == 12  # each process takes 3 at once...
    assert stored == {"/p0-0": 1, "/p0-1": 1, "/p0-2": 1}  # ...the deployment keeps 3
    sets = db.collection(Collections.SERIES).document("page_load_ms").get().to_dict()["sets"]
    assert len(sets) == 3


def test_a_changed_relative_accuracy_still_merges_into_the_stored_minute_and_hour(
    settings: Settings, db: Any
) -> None:
    before = Recorder(settings, db)
    for value in range(1, 101):
        before.record("api_response_time_ms", float(value), API, at=START)
    before.flush()
    coarser = settings.model_copy(
        update={"kpi": settings.kpi.model_copy(update={"relative_accuracy": 0.02})}
    )
    after = Recorder(coarser, db)
    for value in range(101, 201):
        after.record("api_response_time_ms", float(value), API, at=START)

    after.flush()  # raised "Cannot merge two DDSketches with different parameters"

    kpis = KpiQuery(coarser, db)
    median = kpis.aggregate("api_response_time_ms", "quantile", MINUTE, API, q=0.5)
    hour = Window(START, START + timedelta(hours=1))
    p90 = kpis.aggregate("api_response_time_ms", "quantile", hour, API, q=0.9)
    assert kpis.aggregate("api_response_time_ms", "count", hour, API) == 200
    # Within both accuracies added: the stored bins are re-read at their bin's value.
    assert median is not None and abs(median - 100) <= 100 * 0.03
    assert p90 is not None and abs(p90 - 180) <= 180 * 0.03
