"""The quantile sketch: nearest-rank answers within 1 %, whatever the split into minutes."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from monitoring.kpi.rollup import (
    SKETCH_MIN,
    clamp_for_sketch,
    decode_sketch,
    encode_sketch,
    merge_sketch,
    nearest_rank,
    new_sketch,
)

latencies = st.lists(
    st.floats(min_value=0.0, max_value=600_000.0, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=400,
)


@hypothesis_settings(max_examples=150, deadline=None)
@given(values=latencies, parts=st.integers(min_value=1, max_value=7), q=st.floats(0.0, 1.0))
def test_merged_sketches_give_the_nearest_rank_quantile_within_one_percent(
    values: list[float], parts: int, q: float
) -> None:
    sketches = [new_sketch(0.01) for _ in range(parts)]
    for i, value in enumerate(values):
        sketches[i % parts].add(clamp_for_sketch(value))
    merged = decode_sketch(encode_sketch(sketches[0]))  # through the stored form
    for sketch in sketches[1:]:
        merged.merge(decode_sketch(encode_sketch(sketch)))

    exact = sorted(values)[max(0, math.ceil(q * len(values) - 1e-9) - 1)]
    estimate = nearest_rank(merged, q)

    assert estimate is not None
    # Values under SKETCH_MIN count as 0: an absolute error below 0.001 of the unit.
    assert abs(estimate - exact) <= 0.01 * exact + SKETCH_MIN


def test_an_empty_sketch_has_no_quantile() -> None:
    assert nearest_rank(new_sketch(0.01), 0.5) is None


def test_a_tiny_value_does_not_blow_up_the_stored_sketch() -> None:
    sketch = new_sketch(0.01)
    for value in (1e-300, 0.5, 250.0, 86_400_000.0):
        sketch.add(clamp_for_sketch(value))

    assert len(encode_sketch(sketch)) < 16_000


def test_sketches_of_different_accuracy_merge_within_both() -> None:
    fine, coarse = new_sketch(0.01), new_sketch(0.02)
    for value in range(1, 101):
        fine.add(float(value))
        coarse.add(float(value + 100))
    coarse.add(0.0, 5)

    merge_sketch(fine, decode_sketch(encode_sketch(coarse)))

    assert fine.count == 205
    estimate = nearest_rank(fine, 0.9)  # the 185th smallest: 180
    assert estimate is not None and abs(estimate - 180) <= 180 * 0.03
    assert nearest_rank(fine, 0.01) == 0.0
