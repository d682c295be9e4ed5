"""The functions check: a dead man's switch over the scheduled functions' heartbeats.

For each scheduled function, the last slot whose grace has run out is the run we must have
seen: ``due = previous cron slot before (now - grace)``. A heartbeat that started at or after
``due`` means the function is on time; an older one (or none) means a run was missed, which
is unhealthy: a backup that did not run, or an evaluator that stopped. Grace is
``max(grace_min_s, grace_ratio * interval)`` plus the function's own timeout, because the
heartbeat is written when the run ends.

A function never seen is measured from the moment the health check first looked for it
(kept in ``fw_health/watch``), so a new deployment is not unhealthy before its first slot.

``SCHEDULES`` mirrors the decorators of ``functions/main.py``; the package never imports
``main.py``, and ``tests/health/test_deadman.py`` fails when the two drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from croniter import croniter

from monitoring.clock import as_utc
from monitoring.health.checks import Outcome, Status
from monitoring.health.heartbeat import read_heartbeats
from monitoring.store import Collections, firestore_client

if TYPE_CHECKING:
    from monitoring.config import Settings
    from monitoring.health.settings import HealthSettings

__all__ = ["SCHEDULES", "Schedule", "assess", "functions_probe"]

WATCH_DOCUMENT = "watch"
# A heartbeat dated later than this after now came from a clock that is off; taken at its
# word it would read "on time" until that date, however many runs it missed meanwhile.
FUTURE_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Schedule:
    cron: str  # UTC, as every schedule in main.py
    timeout_s: float  # the function's timeout_sec: its heartbeat can come that late


SCHEDULES: dict[str, Schedule] = {
    "evaluate_alerts": Schedule("* * * * *", 55),
    "deliver_notifications": Schedule("* * * * *", 55),
    "probe_health": Schedule("* * * * *", 55),
    "scheduled_backup": Schedule("0 2 * * *", 1800),
    "compact_kpis": Schedule("15 * * * *", 540),
    "daily_maintenance": Schedule("0 6 * * *", 540),
    "weekly_maintenance": Schedule("0 7 * * 1", 540),
    "monthly_maintenance": Schedule("0 8 1 * *", 1800),
}


def _prev(cron: str, before: datetime) -> datetime:
    slot: datetime = croniter(cron, before).get_prev(datetime)
    return as_utc(slot)


def interval(schedule: Schedule, now: datetime) -> timedelta:
    """Return the gap between the two most recent slots of ``schedule`` before ``now``."""
    last = _prev(schedule.cron, now)
    return last - _prev(schedule.cron, last)


def grace(schedule: Schedule, now: datetime, health: HealthSettings) -> timedelta:
    step = interval(schedule, now).total_seconds()
    slack = max(health.heartbeat_grace_min_s, health.heartbeat_grace_ratio * step)
    return timedelta(seconds=slack + schedule.timeout_s)


def assess(
    name: str,
    schedule: Schedule,
    heartbeat: dict[str, Any] | None,
    watched_since: datetime,
    now: datetime,
    health: HealthSettings,
) -> tuple[Status, dict[str, Any]]:
    """Return one function's status and the facts behind it."""
    due = _prev(schedule.cron, now - grace(schedule, now, health))
    started = heartbeat.get("last_started") if heartbeat else None
    facts: dict[str, Any] = {
        "due": due.isoformat(),
        "last_started": as_utc(started).isoformat() if started else None,
    }

    if started is None:
        if due < watched_since:
            facts["reason"] = "no run expected yet"
            return "healthy", facts
        facts["reason"] = f"never ran; a run was due at {due:%Y-%m-%d %H:%M} UTC"
        return "unhealthy", facts
    if as_utc(started) < due:
        facts["reason"] = f"missed the run due at {due:%Y-%m-%d %H:%M} UTC"
        return "unhealthy", facts
    if as_utc(started) > now + FUTURE_SKEW:
        facts["reason"] = (
            f"its last run is dated {as_utc(started):%Y-%m-%d %H:%M} UTC, in the future: "
            "a clock is off, so whether it runs is unknown"
        )
        return "degraded", facts
    if heartbeat and heartbeat.get("last_success") is False:
        facts["reason"] = f"last run failed ({heartbeat.get('last_error') or 'error'})"
        return "degraded", facts
    facts["reason"] = "on time"
    return "healthy", facts


def functions_probe(settings: Settings, now: datetime, timeout_s: float) -> Outcome:
    """Judge every scheduled function's heartbeat; the worst one decides."""
    health = settings.health
    watched = {n: s for n, s in SCHEDULES.items() if n not in health.heartbeat_ignore}
    heartbeats = read_heartbeats(settings, timeout_s)
    since = _watched_since(settings, [n for n in watched if n not in heartbeats], now, timeout_s)

    worst: Status = "healthy"
    problems = []
    details: dict[str, Any] = {}
    for name, schedule in watched.items():
        status, facts = assess(
            name, schedule, heartbeats.get(name), since.get(name, now), now, health
        )
        details[name] = {"status": status, **facts}
        if status != "healthy":
            problems.append(f"{name} {facts['reason']}")
        if status == "unhealthy" or (status == "degraded" and worst == "healthy"):
            worst = status

    if not problems:
        return Outcome("healthy", f"{len(watched)} scheduled functions on time", details)
    return Outcome(worst, "; ".join(problems), details)


def _watched_since(
    settings: Settings, unseen: list[str], now: datetime, timeout_s: float
) -> dict[str, datetime]:
    """Return when each never-seen function was first looked for, recording new ones."""
    if not unseen:
        return {}
    doc = firestore_client(settings).collection(Collections.HEALTH).document(WATCH_DOCUMENT)
    known: dict[str, Any] = (doc.get(timeout=timeout_s).to_dict() or {}).get("since", {})
    since = {name: as_utc(known[name]) for name in unseen if name in known}
    new = {name: now for name in unseen if name not in known}
    if new:
        doc.set({"since": new}, merge=True, timeout=timeout_s)
    return {**since, **new}
