from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import Field

from monitoring.validation import SettingsModel

__all__ = ["MaintenanceSettings"]


def _default_rules_file() -> Path:
    # Like alerts.yaml: at the repository root in a checkout, copied into functions/ to deploy.
    functions_dir = Path(__file__).resolve().parents[2]
    in_checkout = functions_dir.parent / "firestore.rules"
    return in_checkout if in_checkout.exists() else functions_dir / "firestore.rules"


class MaintenanceSettings(SettingsModel):
    """``FIREWATCH_MAINTENANCE__*``: the daily, weekly and monthly maintenance reports."""

    # Receivers (alerts.yaml names) of the full report (HTML email) and of the short summary
    # (chat). None routes by alerts.yaml routes; an empty list sends nothing.
    report_receivers: list[str] | None = None
    summary_receivers: list[str] | None = Field(default_factory=list)
    cache_hit_target: float = Field(0.8, ge=0, le=1)
    # A metric that moves more than this (as a share of its baseline) is flagged.
    change_threshold: float = Field(0.2, gt=0)
    rules_file: Path = Field(default_factory=_default_rules_file)
    # Secret name -> the date it must be rotated by; flagged ``rotation_warn_days`` ahead.
    secret_rotation_due: dict[str, date] = Field(default_factory=dict)
    rotation_warn_days: int = Field(14, ge=0, le=365)
    requirements_file: Path = Field(
        default_factory=lambda: Path(__file__).resolve().parents[2] / "requirements.txt"
    )
    # The daily report runs for at most 540 s (timeout_sec in main.py).
    pip_audit_timeout_s: float = Field(120.0, gt=0, le=540)
    projection_days: int = Field(30, gt=0, le=3650)
    capacity_weeks: int = Field(4, ge=2)
    # Where the monthly restore drill restores to: a namespace no app code reads.
    drill_prefix: str = "fw_drill"
