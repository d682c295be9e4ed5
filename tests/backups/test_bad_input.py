"""Restore points and ids a careless operator types: usage errors, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import typer

from monitoring.backups.catalog import load_manifest, manifest_name
from monitoring.backups.cli import parse_time
from monitoring.backups.jobs import run_scheduled_backup
from monitoring.backups.verify import verify_backup
from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.errors import BackupError
from monitoring.store import storage_client
from tests.backups.conftest import FakeRecorder, seed

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SLOT = datetime(2026, 3, 3, 2, tzinfo=UTC)


def test_relative_restore_points_count_back_from_now() -> None:
    assert parse_time("90m", NOW) == NOW - timedelta(minutes=90)


@pytest.mark.parametrize("text", ["99999999999999h", "999999999d"])
def test_a_restore_point_before_year_one_is_a_usage_error_not_an_overflow(text: str) -> None:
    with pytest.raises(typer.Exit) as refused:
        parse_time(text, NOW)
    assert refused.value.exit_code == 2


@pytest.mark.parametrize("content", [b'{"files": [', b"\xff\xfe", b'{"unexpected": true}'])
def test_a_corrupt_manifest_fails_verification_and_restore_with_one_sentence(
    settings: Settings, clock: ManualClock, kpis: FakeRecorder, content: bytes
) -> None:
    seed(settings, users=("u1",))
    record = run_scheduled_backup(settings, SLOT, clock=clock)
    assert record is not None and record.verified is True
    bucket = storage_client(settings).bucket(settings.backup.bucket)
    bucket.blob(manifest_name(settings, record.id)).upload_from_string(content)

    result = verify_backup(settings, record.id, clock=clock)
    assert not result.ok
    assert result.problems[0].startswith(f"backup {record.id!r} has a corrupt manifest: ")
    with pytest.raises(BackupError, match="has a corrupt manifest"):
        load_manifest(settings, record.id)
