"""Managed exports against a stand-in Admin client.

There is no emulator for the Firestore Admin API (export/import), so ``FakeAdmin`` plays
its part: it takes the same requests, writes export-like objects into the real Storage
emulator, and returns an operation shaped like ``google.api_core.operation.Operation``.
Everything after the API call (manifest, catalog, verification) runs for real.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from monitoring.backups.catalog import get_backup
from monitoring.backups.jobs import run_scheduled_backup
from monitoring.backups.managed import export_managed, import_managed
from monitoring.backups.recovery import restore_database
from monitoring.backups.verify import verify_backup
from monitoring.clock import ManualClock
from monitoring.config import Settings
from monitoring.errors import BackupError
from monitoring.store import storage_client
from tests.backups.conftest import FakeRecorder


@dataclass
class FakeOperation:
    name: str
    error: Exception | None = None
    documents: int = 0

    @property
    def operation(self) -> Any:
        return SimpleNamespace(name=self.name)

    @property
    def metadata(self) -> Any:
        return SimpleNamespace(progress_documents=SimpleNamespace(completed_work=self.documents))

    def result(self, timeout: float | None = None) -> Any:
        if self.error is not None:
            raise self.error
        return SimpleNamespace()


@dataclass
class FakeAdmin:
    settings: Settings
    fail_with: Exception | None = None
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def export_documents(self, request: dict[str, Any]) -> FakeOperation:
        self.requests.append(("export", request))
        prefix = request["output_uri_prefix"].removeprefix(f"gs://{self.settings.backup.bucket}/")
        bucket = storage_client(self.settings).bucket(self.settings.backup.bucket)
        if self.fail_with is None:
            leaf = prefix.rsplit("/", 1)[1]
            bucket.blob(f"{prefix}/{leaf}.overall_export_metadata").upload_from_string(b"meta")
            bucket.blob(f"{prefix}/all_namespaces/all_kinds/output-0").upload_from_string(
                b"x" * 5000
            )
        return FakeOperation("projects/p/databases/(default)/operations/op1", self.fail_with, 42)

    def import_documents(self, request: dict[str, Any]) -> FakeOperation:
        self.requests.append(("import", request))
        return FakeOperation("projects/p/databases/(default)/operations/op2")


def _managed(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"backup": settings.backup.model_copy(update={"kind": "managed"})}
    )


def test_managed_export_follows_the_operation_and_records_it(
    settings: Settings, clock: ManualClock, kpis: FakeRecorder
) -> None:
    managed = _managed(settings)
    admin = FakeAdmin(managed)
    slot = datetime(2026, 3, 3, 2, tzinfo=UTC)

    def exporter(s: Settings, backup_id: str, read_time: datetime, on_op: Any) -> Any:
        return export_managed(
            s, backup_id, snapshot_time=read_time, client=admin, on_operation=on_op
        )

    record = run_scheduled_backup(managed, slot, clock=clock, exporter=exporter)

    kind, request = admin.requests[0]
    assert kind == "export"
    assert request["name"] == "projects/demo-firewatch-test/databases/(default)"
    assert request["output_uri_prefix"] == (
        f"gs://{settings.backup.bucket}/{settings.backup.prefix}/20260303T0200Z"
    )
    assert request["snapshot_time"].second == 0
    assert record is not None and record.state == "succeeded" and record.verified is True
    stored = get_backup(settings, "20260303T0200Z")
    assert stored.operation == "projects/p/databases/(default)/operations/op1"
    assert (stored.documents, stored.files, stored.bytes) == (42, 2, 5004)


def test_a_changed_managed_file_fails_its_crc32c(
    settings: Settings, clock: ManualClock, kpis: FakeRecorder
) -> None:
    managed = _managed(settings)
    admin = FakeAdmin(managed)
    slot = datetime(2026, 3, 3, 2, tzinfo=UTC)
    run_scheduled_backup(
        managed, slot, clock=clock,
        exporter=lambda s, b, t, op: export_managed(s, b, snapshot_time=t, client=admin),
    )  # fmt: skip
    name = f"{settings.backup.prefix}/20260303T0200Z/all_namespaces/all_kinds/output-0"
    storage_client(settings).bucket(settings.backup.bucket).blob(name).upload_from_string(
        b"y" * 5000
    )

    result = verify_backup(managed, "20260303T0200Z", clock=clock)

    assert result.problems == ["all_namespaces/all_kinds/output-0 does not match its CRC32C"]


def test_a_failed_operation_fails_the_backup(
    settings: Settings, clock: ManualClock, kpis: FakeRecorder
) -> None:
    managed = _managed(settings)
    admin = FakeAdmin(managed, fail_with=RuntimeError("PERMISSION_DENIED on bucket"))

    with pytest.raises(BackupError, match="did not complete"):
        run_scheduled_backup(
            managed, datetime(2026, 3, 3, 2, tzinfo=UTC), clock=clock,
            exporter=lambda s, b, t, op: export_managed(
                s, b, snapshot_time=t, client=admin, on_operation=op
            ),
        )  # fmt: skip

    record = get_backup(settings, "20260303T0200Z")
    assert record.state == "failed" and "PERMISSION_DENIED" in (record.error or "")
    assert record.operation == "projects/p/databases/(default)/operations/op1"
    assert kpis.recorded == [("backups_failed", 1.0, {"kind": "managed"})]


def test_restoring_a_managed_backup_imports_its_folder(
    settings: Settings, clock: ManualClock, kpis: FakeRecorder
) -> None:
    managed = _managed(settings)
    admin = FakeAdmin(managed)
    run_scheduled_backup(
        managed, datetime(2026, 3, 3, 2, tzinfo=UTC), clock=clock,
        exporter=lambda s, b, t, op: export_managed(s, b, snapshot_time=t, client=admin),
    )  # fmt: skip

    summary = restore_database(managed, actor="ops", clock=clock, admin=admin)

    assert summary["operation"] == "projects/p/databases/(default)/operations/op2"
    assert admin.requests[-1] == (
        "import",
        {
            "name": "projects/demo-firewatch-test/databases/(default)",
            "input_uri_prefix": f"gs://{settings.backup.bucket}/{settings.backup.prefix}/"
            "20260303T0200Z",
            "collection_ids": [],
        },
    )
    assert import_managed(managed, "x", client=admin, dry_run=True).startswith("(dry run)")
