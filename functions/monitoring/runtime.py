"""What every Firewatch function does around its own work.

``invocation()`` is the one wrapper the entry points use. It loads settings (a bad setting
fails here, naming the variable), sets up logging and secret redaction, times the work, and
afterwards records the function's own performance and writes its heartbeat, which the health
check's dead man's switch reads. No entry point repeats any of this.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from monitoring.clock import Clock, SystemClock

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["Invocation", "invocation", "set_clock"]

logger = logging.getLogger(__name__)

_clock: Clock = SystemClock()
_warm = False


def set_clock(clock: Clock) -> None:
    """Replace the process clock (the dev host's tests and replays use this)."""
    global _clock
    _clock = clock


def get_clock() -> Clock:
    return _clock


@dataclass
class Invocation:
    name: str
    settings: Settings
    clock: Clock
    started: datetime
    cold_start: bool


@contextmanager
def invocation(name: str, settings: Settings | None = None) -> Iterator[Invocation]:
    """Run one function invocation; see the module docstring for what happens around it."""
    global _warm
    from monitoring.config import cached_settings
    from monitoring.logs import configure_logging, register_secrets

    settings = settings or cached_settings()
    configure_logging(settings.log_format, settings.log_level)
    register_secrets(settings.secret_values())

    cold_start, _warm = not _warm, True
    call = Invocation(name, settings, _clock, _clock.now(), cold_start)
    began = time.perf_counter()
    error: BaseException | None = None
    try:
        yield call
    except BaseException as raised:
        error = raised
        raise
    finally:
        duration_ms = (time.perf_counter() - began) * 1000
        _finish(call, duration_ms, error)


def _finish(call: Invocation, duration_ms: float, error: BaseException | None) -> None:
    from monitoring.health.heartbeat import write_heartbeat
    from monitoring.kpi.recorder import record_invocation

    memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fields = {
        "function": call.name,
        "duration_ms": round(duration_ms, 1),
        "cold_start": call.cold_start,
        "success": error is None,
    }
    if error is None:
        logger.info("%s finished in %.0f ms", call.name, duration_ms, extra=fields)
    else:
        logger.error("%s failed: %s", call.name, type(error).__name__, extra=fields)

    # Recording must never turn a successful invocation into a failed one, and a failure
    # here is logged, not raised, so the original error (if any) is what propagates.
    try:
        record_invocation(
            call.settings,
            function=call.name,
            duration_ms=duration_ms,
            memory_mb=memory_mb,
            success=error is None,
            cold_start=call.cold_start,
            now=call.clock.now(),
        )
    except Exception:
        logger.error("could not record %s performance", call.name, exc_info=True)
    try:
        write_heartbeat(
            call.settings,
            call.name,
            started=call.started,
            finished=call.clock.now(),
            success=error is None,
            error=None if error is None else type(error).__name__,
        )
    except Exception:
        logger.error("could not write the %s heartbeat", call.name, exc_info=True)
