"""The demo data behind README's walkthrough: seed, damage, restore one user exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitoring.backups.restore import restore_user_data
from monitoring.config import load_settings
from monitoring.errors import ConfigError
from monitoring.localstack.demo import damage, seed


def _owned(db, collection: str, uid: str) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = db.collection(collection).where(filter=FieldFilter("userId", "==", uid))
    return {snap.id: snap.to_dict() for snap in query.stream()}


def test_seed_writes_each_kind_and_is_idempotent(settings, db) -> None:
    first = seed(settings, datetime.now(UTC))
    again = seed(settings, datetime.now(UTC))
    assert first == again == {"users": 3, "prompts": 9, "executions": 18, "documents": 3}
    assert len(list(db.collection("prompts").stream())) == 9


def test_demo_data_refuses_a_real_project() -> None:
    real = load_settings(_env_file=None, FIREWATCH_PROJECT_ID="rag-prompt-library")
    with pytest.raises(ConfigError, match="only to the Firestore emulator"):
        seed(real, datetime.now(UTC))


def test_a_damaged_user_is_restored_exactly_and_others_are_untouched(settings, db) -> None:
    seed(settings, datetime.now(UTC))
    before_alice = _owned(db, "prompts", "alice"), _owned(db, "documents", "alice")
    before_bob = _owned(db, "prompts", "bob"), _owned(db, "documents", "bob")
    point = datetime.now(UTC)

    assert damage(settings, "alice") == {"deleted": 3, "changed": 1}
    assert _owned(db, "prompts", "alice") == {}

    result = restore_user_data(settings, "alice", point, mode="replace", actor="test")

    assert sorted(result.creates) == sorted(f"prompts/{p}" for p in before_alice[0])
    assert result.changes == ["documents/alice-doc-0"]
    assert (_owned(db, "prompts", "alice"), _owned(db, "documents", "alice")) == before_alice
    assert (_owned(db, "prompts", "bob"), _owned(db, "documents", "bob")) == before_bob
