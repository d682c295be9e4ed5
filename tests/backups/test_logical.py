from __future__ import annotations

import gzip
from datetime import UTC, datetime

from monitoring.backups.catalog import load_manifest
from monitoring.backups.codec import decode, encode
from monitoring.backups.logical import export_logical, iter_documents, restore_all_logical
from monitoring.config import Settings
from monitoring.store import firestore_client, storage_client
from tests.backups.conftest import seed


def test_logical_backup_holds_every_document_and_subcollection(settings: Settings) -> None:
    app = seed(settings)
    small_pages = settings.model_copy(
        update={"backup": settings.backup.model_copy(update={"page_size": 4})}
    )

    manifest = export_logical(small_pages, "b1", read_time=app.seeded_at)

    paths = {path for path, _ in iter_documents(settings, manifest)}
    expected = {p for uid in ("u1", "u2") for p in app.paths[uid]} | {"config/app"}
    assert paths == expected
    assert manifest.collections == ["config", "documents", "executions", "prompts", "users"]
    assert {f.collection: f.documents for f in manifest.files} == {
        "config": 1,
        "documents": 6,
        "executions": 6,
        "prompts": 6,
        "users": 4,
    }
    assert manifest.documents == 23
    assert load_manifest(settings, "b1") == manifest


def test_manifest_sizes_and_hashes_match_the_stored_files(settings: Settings) -> None:
    import hashlib

    app = seed(settings, users=("u1",))
    manifest = export_logical(settings, "b1", read_time=app.seeded_at)

    bucket = storage_client(settings).bucket(settings.backup.bucket)
    for entry in manifest.files:
        stored = bucket.blob(f"{settings.backup.prefix}/b1/{entry.name}").download_as_bytes()
        assert len(stored) == entry.bytes
        assert hashlib.sha256(stored).hexdigest() == entry.sha256
        assert gzip.decompress(stored).count(b"\n") == entry.documents


def test_logical_backup_is_one_point_in_time(settings: Settings) -> None:
    app = seed(settings, users=("u1",))
    db = firestore_client(settings)
    db.collection("prompts").document("late").set({"userId": "u1"})
    db.collection("prompts").document("u1-p0").delete()

    manifest = export_logical(settings, "b1", read_time=app.seeded_at)

    prompts = {p for p, _ in iter_documents(settings, manifest, {"prompts"})}
    assert prompts == {"prompts/u1-p0", "prompts/u1-p1", "prompts/u1-p2"}


def test_firestore_types_survive_a_round_trip(settings: Settings) -> None:
    from google.cloud.firestore_v1 import GeoPoint

    db = firestore_client(settings)
    value = {
        "when": datetime(2026, 3, 2, 12, 30, 15, 123000, tzinfo=UTC),
        "raw": b"\x01\x02",
        "where": GeoPoint(51.5, -0.1),
        "ref": db.document("users/u1"),
        "nested": {"list": [1, "two", None, {"deep": True}]},
    }

    back = decode(encode(value), db)

    assert back["when"] == value["when"]
    assert back["raw"] == b"\x01\x02"
    assert back["where"] == GeoPoint(51.5, -0.1)
    assert back["ref"].path == "users/u1"
    assert back["nested"] == value["nested"]


def test_a_vector_field_is_backed_up_and_restored_as_a_vector(settings: Settings) -> None:
    from google.cloud.firestore_v1.vector import Vector

    db = firestore_client(settings)
    written = db.document("documents/d1").set(
        {"userId": "u1", "embedding": Vector([0.25, -1.5, 3.0])}
    )

    manifest = export_logical(settings, "b1", read_time=written.update_time)
    db.document("documents/d1").delete()
    restore_all_logical(settings, manifest, lambda path, data: False)

    assert [data for _, data in iter_documents(settings, manifest)] == [
        {"userId": "u1", "embedding": {"$fw:vector": [0.25, -1.5, 3.0]}}
    ]
    back = db.document("documents/d1").get().to_dict()
    assert back == {"userId": "u1", "embedding": Vector([0.25, -1.5, 3.0])}
    assert type(back["embedding"]) is Vector


def test_a_map_that_looks_like_an_encoded_value_comes_back_as_that_map(
    settings: Settings,
) -> None:
    db = firestore_client(settings)
    data = {
        "userId": "u1",
        "label": {"$fw:ts": "not a time"},
        "wrapped": {"$fw:map": {"$fw:bytes": "AA=="}},
        "when": datetime(2026, 3, 2, 12, 30, tzinfo=UTC),
    }
    written = db.document("documents/d1").set(data)

    manifest = export_logical(settings, "b1", read_time=written.update_time)
    db.document("documents/d1").delete()
    restore_all_logical(settings, manifest, lambda path, data: False)

    assert db.document("documents/d1").get().to_dict() == data
    assert decode(encode({"$fw:ts": "x"})) == {"$fw:ts": "x"}
