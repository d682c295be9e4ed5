"""``FIREWATCH_BACKUP__*``: where backups go, how they are made, and whose data is whose."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from monitoring.validation import SettingsModel, bucket_name


class UserCollection(SettingsModel):
    """One collection that holds user data, and how a document in it belongs to a user.

    ``path`` is a collection path that may contain ``{uid}`` (``users/{uid}/documents``: the
    path alone says whose a document is). Otherwise ``owner_field`` names the field holding
    the user id (``userId``), or ``id_is_uid`` says the document id is the user id (``users``).
    """

    path: str
    owner_field: str | None = None
    id_is_uid: bool = False

    @field_validator("path")
    @classmethod
    def _path_shape(cls, value: str) -> str:
        parts = value.strip("/").split("/")
        if len(parts) % 2 == 0 or any(not part for part in parts):
            raise ValueError(f"{value!r} is not a collection path (odd number of segments)")
        return value.strip("/")

    @property
    def top_level(self) -> str:
        return self.path.split("/", 1)[0]

    def resolved(self, uid: str) -> str:
        return self.path.replace("{uid}", uid)

    @property
    def by_path(self) -> bool:
        return "{uid}" in self.path


class Reference(SettingsModel):
    """A field in one user collection that names a document id in another (for integrity)."""

    collection: str
    field: str
    target: str


def _default_user_collections() -> list[UserCollection]:
    return [
        UserCollection(path="users", id_is_uid=True),
        UserCollection(path="prompts", owner_field="userId"),
        UserCollection(path="executions", owner_field="userId"),
        UserCollection(path="documents", owner_field="userId"),
    ]


class BackupSettings(SettingsModel):
    """``FIREWATCH_BACKUP__*``: where backups go and how they are made."""

    kind: Literal["managed", "logical"] = "logical"
    bucket: Annotated[str, AfterValidator(bucket_name)] = "firewatch-backups"
    prefix: str = "firewatch-backups"
    database: str = "(default)"
    # Top-level collections to back up; empty means all of them except ``exclude``.
    collections: list[str] = Field(default_factory=list)
    # Firewatch's own bookkeeping is not application data: restoring an old catalog or audit
    # log over the live one would forget newer backups and erase the record of the restore.
    exclude: list[str] = Field(
        default_factory=lambda: ["fw_backups", "fw_audit", "fw_erasures", "fw_restores", "fw_locks"]
    )
    user_collections: list[UserCollection] = Field(default_factory=_default_user_collections)
    references: list[Reference] = Field(
        default_factory=lambda: [
            Reference(collection="executions", field="promptId", target="prompts")
        ]
    )
    # Firestore keeps old versions readable for 1 h without PITR and 7 days with it; the
    # emulator behaves like the 1 h case. No database keeps versions longer than 7 days.
    pitr_window_s: int = Field(3600, gt=0, le=7 * 86400)
    keep_daily: int = Field(30, ge=1)
    keep_weekly: int = Field(12, ge=0)
    keep_monthly: int = Field(12, ge=0)
    keep_manual: int = Field(10, ge=0)
    # How long a per-user restore can be undone: its saved "before" snapshot is deleted by
    # pruning after this many days (each holds a copy of one user's documents); at most 10 years.
    keep_restore_snapshots_days: int = Field(30, ge=1, le=3650)
    # Pages are streamed, not held, so their size costs no memory; each page is one query
    # (the emulator rescans from the cursor, so few large pages are much faster there).
    page_size: int = Field(5000, ge=1, le=50_000)
    upload_chunk_bytes: int = Field(4 * 1024 * 1024, ge=256 * 1024)
    write_batch: int = Field(400, ge=1, le=500)
    # The wait for a managed export; at most an hour, the longest a function runs.
    managed_timeout_s: float = Field(3000.0, gt=0, le=3600)
    verify_after_backup: bool = True
    prune_after_backup: bool = True
    # The newest backup may be this old before verification fails; at most 31 days.
    max_age_hours: float = Field(26.0, gt=0, le=31 * 24)

    @field_validator("prefix")
    @classmethod
    def _prefix_not_root(cls, value: str) -> str:
        # Pruning deletes under the prefix; an empty one would make it the whole bucket.
        if not value.strip("/"):
            raise ValueError("must name a folder; an empty prefix would expose the whole bucket")
        return value.strip("/")

    @field_validator("upload_chunk_bytes")
    @classmethod
    def _chunk_multiple(cls, value: int) -> int:
        # Resumable uploads take chunks in multiples of 256 KiB.
        return value - value % (256 * 1024)
