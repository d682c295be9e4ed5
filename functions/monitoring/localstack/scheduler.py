"""Run scheduled functions locally on the schedule their own decorators declare.

Schedules come from each function's ``__firebase_endpoint__`` (the functions SDK's metadata),
never from a second list, and are read in UTC unless the decorator names another zone.
The scheduler takes a clock; the dev host drives it in real time and tests step it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from monitoring.clock import Clock, as_utc

__all__ = ["ScheduledJob", "Scheduler", "cron_expression", "scheduled_jobs"]

_EVERY = re.compile(r"^every (\d+) (minute|minutes|hour|hours)$")


def cron_expression(schedule: str) -> str:
    """Return ``schedule`` as a cron expression (App Engine ``every N minutes`` included)."""
    match = _EVERY.match(schedule.strip())
    if match:
        count, unit = int(match.group(1)), match.group(2)
        return f"*/{count} * * * *" if unit.startswith("minute") else f"0 */{count} * * *"
    if not croniter.is_valid(schedule):
        raise ValueError(f"schedule {schedule!r} is neither cron nor 'every N minutes'")
    return schedule


@dataclass
class ScheduledJob:
    name: str
    schedule: str
    timezone: str
    run: Callable[[datetime], None]
    next_run: datetime | None = None

    def following(self, after: datetime) -> datetime:
        zone = ZoneInfo(self.timezone)
        # croniter steps in the job's own zone (a "0 2 * * *" in Europe/Paris is 02:00 Paris
        # time, DST included); the result is kept in UTC.
        local = as_utc(after).astimezone(zone)
        nxt: datetime = croniter(cron_expression(self.schedule), local).get_next(datetime)
        return as_utc(nxt)


def scheduled_jobs(
    functions: dict[str, Any], invoke: Callable[[str, datetime], None]
) -> list[ScheduledJob]:
    """Return a job for every function whose SDK metadata has a schedule trigger."""
    jobs = []
    for name, function in sorted(functions.items()):
        trigger = getattr(function.__firebase_endpoint__, "scheduleTrigger", None)
        if not trigger:
            continue
        zone = trigger.get("timeZone")
        timezone = zone if isinstance(zone, str) else "UTC"
        jobs.append(
            ScheduledJob(
                name=name,
                schedule=str(trigger["schedule"]),
                timezone=timezone,
                run=functools.partial(invoke, name),
            )
        )
    return jobs


class Scheduler:
    def __init__(self, jobs: list[ScheduledJob], clock: Clock) -> None:
        self.jobs = jobs
        self.clock = clock
        start = clock.now()
        for job in jobs:
            job.next_run = job.following(start)

    def due(self) -> list[tuple[ScheduledJob, datetime]]:
        """Return the jobs whose slot has come, with that slot, and move each to its next slot.

        A slot missed while the host was busy fires once, not once per missed slot.
        """
        now = self.clock.now()
        fired = []
        for job in self.jobs:
            assert job.next_run is not None
            if job.next_run <= now:
                fired.append((job, job.next_run))
                job.next_run = job.following(now)
        return fired

    def tick(self) -> list[str]:
        """Run every due job now; return their names."""
        ran = []
        for job, slot in self.due():
            job.run(slot)
            ran.append(job.name)
        return ran

    def seconds_until_next(self) -> float:
        upcoming = min((job.next_run for job in self.jobs if job.next_run), default=None)
        if upcoming is None:
            return 60.0
        return max(0.0, (upcoming - self.clock.now()).total_seconds())
