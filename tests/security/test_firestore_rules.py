"""firestore.rules, exercised in the emulator as four kinds of client.

Roles: an anonymous client, ``alice`` (who owns the seeded user data), ``bob`` (another
signed-in user) and ``root`` (a signed-in user with the ``admin`` custom claim). Each test
is one rule for one collection, parametrized over the roles with the answer each must get.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from monitoring.localstack.emulators import FirestoreEmulator
from monitoring.store import Collections
from tests.conftest import REPO
from tests.security.firestore_rest import Rest
from tests.security.tokens import bearer, id_token

ALLOWED, DENIED = 200, 403

ROLES: dict[str, dict[str, str]] = {
    "anonymous": {},
    "owner": bearer(id_token("alice")),
    "other": bearer(id_token("bob")),
    "admin": bearer(id_token("root", admin=True)),
}
UID = {"anonymous": "", "owner": "alice", "other": "bob", "admin": "root"}

FIREWATCH = sorted(
    value
    for name, value in vars(Collections).items()
    if name.isupper() and value.startswith("fw_") and value != Collections.STATUS
)
OWNED = ["prompts", "executions", "documents"]

SEED = {
    "users/alice": {"name": "Alice"},
    "users/alice/history/h1": {"query": "what is rag"},
    "prompts/p1": {"userId": "alice", "text": "summarise"},
    "executions/p1": {"userId": "alice", "status": "done"},
    "documents/p1": {"userId": "alice", "title": "notes.pdf"},
    f"{Collections.STATUS}/current": {"status": "operational"},
    "elsewhere/x1": {"userId": "alice"},
    **{f"{name}/seed": {"userId": "alice", "state": "kept"} for name in FIREWATCH},
}
# Every document a test may create; deleted before each test so creates start from scratch.
CREATED = (
    "users/alice/notes/n1",
    "users/alice/history/h1/notes/n1",
    *(f"users/{uid}-new" for uid in UID.values() if uid),
    *(f"users/{uid}/history/h9" for uid in UID.values() if uid),
    *(f"{c}/{name}" for c in OWNED for name in ("mine", "forged", "ownerless")),
    *(f"{c}/new" for c in FIREWATCH),
    f"{Collections.STATUS}/fake",
    "elsewhere/x2",
)


def by_role(**expected: int) -> list[object]:
    return [pytest.param(role, expected[role], id=role) for role in ROLES]


@pytest.fixture(scope="module")
def _client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as client:
        yield client


@pytest.fixture(scope="module")
def _module_rest(firestore_emulator: FirestoreEmulator, _client: httpx.Client) -> Rest:
    # The emulator read the file at start; load it again so an edit made since is in force.
    api = Rest(firestore_emulator, _client)
    api.put_rules((REPO / "firestore.rules").read_text())
    firestore_emulator.reset()
    return api


@pytest.fixture
def rest(_module_rest: Rest) -> Rest:
    _module_rest.seed(SEED, absent=CREATED)
    return _module_rest


# Firewatch's own collections ---------------------------------------------------------------


# Roles are looped inside these tests (18 collections x 4 roles would be 144 tests of
# identical shape); the assertion message names the role that got through.


@pytest.mark.parametrize("collection", FIREWATCH)
def test_firewatch_collection_is_unreadable_by_every_client(rest: Rest, collection: str) -> None:
    answers = {
        role: (rest.get(f"{collection}/seed", headers), rest.list(collection, headers))
        for role, headers in ROLES.items()
    }
    assert answers == dict.fromkeys(ROLES, (DENIED, DENIED))


@pytest.mark.parametrize("collection", FIREWATCH)
def test_firewatch_collection_is_unwritable_by_every_client(rest: Rest, collection: str) -> None:
    answers = {
        role: (
            rest.create(f"{collection}/new", {"userId": UID[role]}, headers),
            rest.update(f"{collection}/seed", {"userId": UID[role]}, headers),
            rest.delete(f"{collection}/seed", headers),
        )
        for role, headers in ROLES.items()
    }
    assert answers == dict.fromkeys(ROLES, (DENIED, DENIED, DENIED))
    assert rest.stored(f"{collection}/seed") == {"userId": "alice", "state": "kept"}
    assert not rest.exists(f"{collection}/new")


# Public status data --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_status_is_readable_by_anyone(rest: Rest, role: str) -> None:
    assert rest.get(f"{Collections.STATUS}/current", ROLES[role]) == ALLOWED
    assert rest.list(Collections.STATUS, ROLES[role]) == ALLOWED


@pytest.mark.parametrize("role", ROLES)
def test_status_is_writable_by_no_client(rest: Rest, role: str) -> None:
    headers = ROLES[role]
    assert rest.create(f"{Collections.STATUS}/fake", {"status": "down"}, headers) == DENIED
    assert rest.update(f"{Collections.STATUS}/current", {"status": "down"}, headers) == DENIED
    assert rest.delete(f"{Collections.STATUS}/current", headers) == DENIED
    assert rest.stored(f"{Collections.STATUS}/current") == {"status": "operational"}


# users/{uid} and everything under it ---------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"), by_role(anonymous=403, owner=200, other=403, admin=200)
)
@pytest.mark.parametrize("path", ["users/alice", "users/alice/history/h1"], ids=["profile", "sub"])
def test_user_data_is_readable_by_its_owner_and_admins(
    rest: Rest, path: str, role: str, expected: int
) -> None:
    assert rest.get(path, ROLES[role]) == expected


@pytest.mark.parametrize(
    ("role", "expected"), by_role(anonymous=403, owner=200, other=403, admin=403)
)
@pytest.mark.parametrize("path", ["users/alice", "users/alice/history/h1"], ids=["profile", "sub"])
def test_user_data_is_writable_by_its_owner_only(
    rest: Rest, path: str, role: str, expected: int
) -> None:
    assert rest.update(path, {"name": "changed"}, ROLES[role]) == expected
    assert (
        rest.create(
            f"{path}/notes/n1" if path.count("/") % 2 else "users/alice/notes/n1",
            {"text": "mine"},
            ROLES[role],
        )
        == expected
    )
    assert rest.delete(path, ROLES[role]) == expected
    assert rest.exists(path) is (expected == DENIED)


@pytest.mark.parametrize(
    ("role", "expected"), by_role(anonymous=403, owner=403, other=403, admin=200)
)
def test_only_admins_can_list_all_users(rest: Rest, role: str, expected: int) -> None:
    assert rest.list("users", ROLES[role]) == expected


@pytest.mark.parametrize("role", ["owner", "other", "admin"])
def test_a_user_can_create_their_own_profile_only(rest: Rest, role: str) -> None:
    uid = UID[role]
    assert rest.create(f"users/{uid}-new", {"name": "x"}, ROLES[role]) == DENIED
    assert rest.create(f"users/{uid}/history/h9", {"query": "q"}, ROLES[role]) == ALLOWED


# Owned collections: prompts, executions, documents -------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"), by_role(anonymous=403, owner=200, other=403, admin=200)
)
@pytest.mark.parametrize("collection", OWNED)
def test_owned_document_is_readable_by_its_owner_and_admins(
    rest: Rest, collection: str, role: str, expected: int
) -> None:
    assert rest.get(f"{collection}/p1", ROLES[role]) == expected


@pytest.mark.parametrize(
    ("role", "expected"), by_role(anonymous=403, owner=200, other=200, admin=200)
)
@pytest.mark.parametrize("collection", OWNED)
def test_query_for_ones_own_documents_is_allowed_to_signed_in_users(
    rest: Rest, collection: str, role: str, expected: int
) -> None:
    assert rest.query_owned(collection, UID[role] or "alice", ROLES[role]) == expected


@pytest.mark.parametrize(
    ("role", "expected"), by_role(anonymous=403, owner=403, other=403, admin=200)
)
@pytest.mark.parametrize("collection", OWNED)
def test_unfiltered_listing_is_allowed_to_admins_only(
    rest: Rest, collection: str, role: str, expected: int
) -> None:
    assert rest.list(collection, ROLES[role]) == expected


@pytest.mark.parametrize(
    ("role", "expected"), by_role(anonymous=403, owner=200, other=200, admin=200)
)
@pytest.mark.parametrize("collection", OWNED)
def test_create_must_name_the_caller_as_owner(
    rest: Rest, collection: str, role: str, expected: int
) -> None:
    headers = ROLES[role]
    assert rest.create(f"{collection}/mine", {"userId": UID[role]}, headers) == expected
    assert rest.create(f"{collection}/forged", {"userId": "carol"}, headers) == DENIED
    assert rest.create(f"{collection}/ownerless", {"text": "x"}, headers) == DENIED
    assert not rest.exists(f"{collection}/forged")


@pytest.mark.parametrize(
    ("role", "expected"), by_role(anonymous=403, owner=200, other=403, admin=403)
)
@pytest.mark.parametrize("collection", OWNED)
def test_owned_document_is_updatable_and_deletable_by_its_owner_only(
    rest: Rest, collection: str, role: str, expected: int
) -> None:
    headers = ROLES[role]
    assert rest.update(f"{collection}/p1", {"userId": "alice", "text": "v2"}, headers) == expected
    assert rest.delete(f"{collection}/p1", headers) == expected
    assert rest.exists(f"{collection}/p1") is (expected == DENIED)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("collection", OWNED)
def test_nobody_can_change_a_documents_owner(rest: Rest, collection: str, role: str) -> None:
    headers = ROLES[role]
    assert rest.update(f"{collection}/p1", {"userId": UID[role] or "bob"}, headers) in (
        # The owner "changing" userId to alice is no change; everyone else must be refused.
        (ALLOWED,) if role == "owner" else (DENIED,)
    )
    assert rest.update(f"{collection}/p1", {"userId": "mallory"}, headers) == DENIED
    assert rest.stored(f"{collection}/p1")["userId"] == "alice"


# Anything else ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_unknown_collections_are_closed(rest: Rest, role: str) -> None:
    headers = ROLES[role]
    assert rest.get("elsewhere/x1", headers) == DENIED
    assert rest.list("elsewhere", headers) == DENIED
    assert rest.create("elsewhere/x2", {"userId": UID[role]}, headers) == DENIED
    assert rest.query_owned("elsewhere", UID[role] or "alice", headers) == DENIED
