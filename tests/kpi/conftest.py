"""Fixtures of the KPI tests: a fresh recorder per test and a query on the same emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitoring.config import Settings
from monitoring.kpi.query import KpiQuery
from monitoring.kpi.recorder import Recorder, get_recorder, reset_recorders


@pytest.fixture(autouse=True)
def _fresh_recorders() -> Iterator[None]:
    reset_recorders()
    yield
    reset_recorders()


@pytest.fixture
def recorder(settings: Settings) -> Recorder:
    return get_recorder(settings)


@pytest.fixture
def kpis(settings: Settings) -> KpiQuery:
    return KpiQuery(settings)
