"""Restore points and ids a careless operator types: usage errors, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import typer

from monitoring.backups.cli import parse_time

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_relative_restore_points_count_back_from_now() -> None:
    assert parse_time("90m", NOW) == NOW - timedelta(minutes=90)


@pytest.mark.parametrize("text", ["99999999999999h", "999999999d"])
def test_a_restore_point_before_year_one_is_a_usage_error_not_an_overflow(text: str) -> None:
    with pytest.raises(typer.Exit) as refused:
        parse_time(text, NOW)
    assert refused.value.exit_code == 2
