"""The monthly parts: a restore drill of the newest backup, and the month's incidents."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitoring.maintenance.report import Section

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["incidents_month_section", "restore_drill_section"]


def _get(obj: Any, *names: str) -> Any:
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


def restore_drill_section(settings: Settings, now: datetime) -> Section:
    """Restore the newest backup into a scratch namespace and check what came back.

    Raises (and so reports the part as failed) when the backups subsystem offers no restore
    API: a drill that did not restore anything must never read as passed.
    """
    from monitoring.backups.catalog import list_backups  # type: ignore[import-not-found,unused-ignore]

    try:
        from monitoring.backups.restore import (  # type: ignore[import-not-found,unused-ignore]
            restore_backup,
        )
    except ImportError:
        raise NotImplementedError(
            "the backups subsystem has no restore API (monitoring.backups.restore."
            "restore_backup); the drill did not run"
        ) from None

    backups = list_backups(settings)
    if not backups:
        return Section(
            key="restore_drill", title="Restore drill", status="fail", summary="No backup exists."
        )
    backup_id = str(_get(backups[0], "id", "backup_id"))
    namespace = f"{settings.maintenance.drill_prefix}_{now:%Y%m}"
    result = restore_backup(settings, backup_id, target_prefix=namespace)
    ok = bool(_get(result, "ok", "verified", "passed"))
    restored = _get(result, "documents", "restored", "count")
    rows = [["Backup", backup_id], ["Scratch namespace", namespace]]
    if restored is not None:
        rows.append(["Documents restored", str(restored)])
    problems = list(_get(result, "problems", "errors", "issues") or [])
    rows.extend(["Problem", str(problem)] for problem in problems[:10])
    return Section(
        key="restore_drill",
        title="Restore drill",
        status="ok" if ok else "fail",
        summary=f"Backup {backup_id} {'restored and checked' if ok else 'did not restore cleanly'}"
        f" into {namespace}.",
        columns=["Check", "Result"],
        rows=rows,
    )


def incidents_month_section(settings: Settings, start: datetime, end: datetime) -> Section:
    from monitoring.incidents.service import list_incidents

    incidents = [i for i in list_incidents(settings, since=start) if i.opened_at < end]
    rows = []
    for incident in incidents:
        duration = (
            f"{(incident.resolved_at - incident.opened_at).total_seconds() / 60:.0f} min"
            if incident.resolved_at
            else "open"
        )
        review = incident.review.status if incident.review else "-"
        rows.append([incident.id, incident.priority, incident.title, duration, review])
    pending = [i.id for i in incidents if i.review and i.review.status == "scheduled"]
    return Section(
        key="incidents",
        title="Incidents of the month",
        status="warn" if pending else "ok",
        summary=f"{len(incidents)} incident(s); reviews not done: {len(pending)}.",
        columns=["Incident", "Priority", "Title", "Duration", "Review"],
        rows=rows,
    )
