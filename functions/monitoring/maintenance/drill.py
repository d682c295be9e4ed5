"""The monthly parts: a restore drill of the newest backup, and the month's incidents."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitoring.maintenance.report import Section
from monitoring.store import firestore_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["incidents_month_section", "restore_drill_section"]


def restore_drill_section(settings: Settings, now: datetime) -> Section:
    """Restore the newest logical backup into a scratch namespace and check what came back.

    Steps: 1. pick the newest succeeded logical backup (a managed export can only be imported
    over the live paths, so it cannot be drilled into a scratch namespace); 2. stream its
    documents (``monitoring.backups.logical.iter_documents``) into
    ``<drill_prefix>/<run>/<original path>``; 3. read every one back and compare the count
    with the manifest and the content hash with the backup's; 4. delete the scratch copy.
    """
    from monitoring.backups.catalog import list_backups, load_manifest
    from monitoring.backups.codec import content_hash, decode
    from monitoring.backups.logical import iter_documents

    candidates = [b for b in list_backups(settings) if b.state == "succeeded"]
    logical = [b for b in candidates if b.kind == "logical"]
    if not logical:
        return Section(
            key="restore_drill",
            title="Restore drill",
            status="fail",
            summary="No succeeded logical backup to restore"
            + (f" (newest is the managed export {candidates[0].id})." if candidates else "."),
        )
    backup = logical[0]
    manifest = load_manifest(settings, backup.id)
    client = firestore_client(settings)
    root = f"{settings.maintenance.drill_prefix}/{now:%Y%m%dT%H%M}-{backup.id}".replace(" ", "_")

    source: list[tuple[str, Any]] = []
    batch, pending = client.batch(), 0
    for path, data in iter_documents(settings, manifest):
        value = decode(data, client)
        source.append((path, value))
        batch.set(client.document(f"{root}/{path}"), value)
        pending += 1
        if pending >= 400:
            batch.commit()
            batch, pending = client.batch(), 0
    if pending:
        batch.commit()

    refs = [client.document(f"{root}/{path}") for path, _ in source]
    restored: list[tuple[str, Any]] = []
    for i in range(0, len(refs), 300):
        for snap in client.get_all(refs[i : i + 300]):
            if snap.exists:
                restored.append((snap.reference.path.removeprefix(root + "/"), snap.to_dict()))
    problems = []
    if len(restored) != manifest.documents:
        problems.append(
            f"{len(restored)} documents came back; the manifest lists {manifest.documents}"
        )
    if content_hash(restored) != content_hash(source):
        problems.append("restored content differs from the backup")

    cleanup = client.batch()
    for n, ref in enumerate(refs, 1):
        cleanup.delete(ref)
        if n % 400 == 0:
            cleanup.commit()
            cleanup = client.batch()
    cleanup.commit()

    rows = [
        ["Backup", f"{backup.id} ({backup.kind}, {manifest.read_time:%Y-%m-%d %H:%M} UTC)"],
        ["Scratch namespace", root],
        ["Documents restored", f"{len(restored)} of {manifest.documents}"],
        ["Collections", ", ".join(manifest.collections) or "none"],
    ]
    rows.extend(["Problem", problem] for problem in problems)
    return Section(
        key="restore_drill",
        title="Restore drill",
        status="fail" if problems else "ok",
        summary=(
            f"Backup {backup.id} restored into a scratch namespace and matched: "
            f"{len(restored)} documents, same content."
            if not problems
            else f"Backup {backup.id} did not restore cleanly: {'; '.join(problems)}."
        ),
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
