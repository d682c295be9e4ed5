from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class NotifySettings(BaseModel):
    """``FIREWATCH_NOTIFY__*``: SMTP and channel credentials used by receivers."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(1025, gt=0, lt=65536)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: str = "none"
    mail_from: str = "Firewatch <firewatch@localhost>"
    timeout_s: float = Field(10.0, gt=0)
