from __future__ import annotations

from pydantic import BaseModel


class BackupSettings(BaseModel):
    """``FIREWATCH_BACKUP__*``: where backups go and how they are made."""

    bucket: str = "firewatch-backups"
    prefix: str = "firewatch-backups"
