"""Run every health probe at once, each with its own deadline, and judge the whole.

A probe is a ``Check``: a name, a timeout, a criticality and a function that returns an
``Outcome`` or raises. ``run_checks`` starts one daemon thread per check and waits for each
only until that check's deadline, so a dependency that never answers costs its timeout and
no more: the thread is abandoned (it ends when its own client timeout fires), never joined
without a deadline. A check that raises is unhealthy with the exception as its reason.

The overall status is the worst of the parts, except that a non-critical check can at most
degrade it: the LLM provider being down makes prompts fail, not the monitoring.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from monitoring.errors import FirewatchError

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = [
    "Check",
    "CheckFailed",
    "CheckResult",
    "HealthReport",
    "Outcome",
    "Status",
    "overall_status",
    "run_checks",
]

logger = logging.getLogger(__name__)

Status = Literal["healthy", "degraded", "unhealthy"]
_RANK: dict[str, int] = {"healthy": 0, "degraded": 1, "unhealthy": 2}
UP_VALUE: dict[str, float] = {"healthy": 1.0, "degraded": 0.5, "unhealthy": 0.0}
_MAX_REASON = 300


class CheckFailed(FirewatchError):
    """A probe's verdict that its dependency is unhealthy; the message is the reason."""


@dataclass(frozen=True)
class Outcome:
    """What a probe found. ``details`` holds small extra facts for the detailed report."""

    status: Status = "healthy"
    reason: str = "ok"
    details: dict[str, Any] | None = None


@dataclass(frozen=True)
class Check:
    """One probe. ``prepare`` does the local, one-time work (imports, client objects).

    ``prepare`` runs before the deadline starts: importing the Google clients costs seconds
    on a cold instance, which says nothing about the dependency. It must not touch the
    network; the probe does that, within ``timeout_s``.
    """

    name: str
    probe: Callable[[], Outcome]
    timeout_s: float
    critical: bool = True
    degraded_after_ms: float | None = None
    prepare: Callable[[], object] | None = None


class CheckResult(BaseModel):
    name: str
    status: Status
    latency_ms: float
    reason: str
    critical: bool
    details: dict[str, Any] | None = None


class HealthReport(BaseModel):
    status: Status
    checked_at: datetime
    duration_ms: float
    checks: list[CheckResult]

    def component(self, name: str) -> CheckResult | None:
        return next((check for check in self.checks if check.name == name), None)

    def public(self) -> dict[str, str]:
        """Return the short answer anyone may see: the status and the time."""
        return {"status": self.status, "time": self.checked_at.isoformat()}

    def detailed(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def components(self) -> dict[str, Status]:
        return {check.name: check.status for check in self.checks}


def overall_status(results: Sequence[CheckResult]) -> Status:
    """Return the worst status, a non-critical check counting at most as degraded."""
    worst: Status = "healthy"
    for result in results:
        status: Status = result.status
        if not result.critical and status == "unhealthy":
            status = "degraded"
        if _RANK[status] > _RANK[worst]:
            worst = status
    return worst


def run_checks(
    settings: Settings,
    now: datetime,
    *,
    checks: Sequence[Check] | None = None,
) -> HealthReport:
    """Run ``checks`` (by default every configured one) concurrently and return the report.

    Never raises for a failing dependency. After the checks' ``prepare`` steps (local work,
    once per process in practice), the call returns within the largest timeout among the
    checks plus thread start-up time, which ``settings.health.margin_s`` budgets for.
    """
    if checks is None:
        from monitoring.health.probes import build_checks

        checks = build_checks(settings, now)

    runs = [_Run(check) for check in checks]
    for run in runs:
        run.prepare()
    began = time.perf_counter()
    for run in runs:
        run.start()
    results = [run.wait(began) for run in runs]
    duration_ms = (time.perf_counter() - began) * 1000

    report = HealthReport(
        status=overall_status(results),
        checked_at=now,
        duration_ms=round(duration_ms, 1),
        checks=results,
    )
    unhealthy = [r.name for r in results if r.status == "unhealthy"]
    logger.info(
        "health %s in %.0f ms%s",
        report.status,
        duration_ms,
        f" (unhealthy: {', '.join(unhealthy)})" if unhealthy else "",
        extra={"status": report.status, "duration_ms": round(duration_ms, 1)},
    )
    return report


class _Run:
    """One check on its own daemon thread; ``wait`` gives up at the check's deadline."""

    def __init__(self, check: Check) -> None:
        self.check = check
        self._done = threading.Event()
        self._outcome: Outcome | None = None
        self._error: BaseException | None = None
        self._latency_ms = 0.0
        # Daemon: a probe stuck in a socket read must never keep the process alive.
        self._thread = threading.Thread(
            target=self._target, name=f"health-{check.name}", daemon=True
        )

    def prepare(self) -> None:
        if self.check.prepare is None:
            return
        try:
            self.check.prepare()
        except Exception as error:  # the check is then reported, not run
            self._error = error
            self._done.set()

    def start(self) -> None:
        if not self._done.is_set():
            self._thread.start()

    def _target(self) -> None:
        started = time.perf_counter()
        try:
            self._outcome = self.check.probe()
        except BaseException as error:  # reported as the check's reason, not re-raised
            self._error = error
        finally:
            self._latency_ms = (time.perf_counter() - started) * 1000
            self._done.set()

    def wait(self, began: float) -> CheckResult:
        remaining = began + self.check.timeout_s - time.perf_counter()
        finished = self._done.wait(timeout=max(0.0, remaining))
        if not finished:
            return self._result(
                "unhealthy", f"no answer within {self.check.timeout_s:g} s", None, None
            )
        if self._error is not None:
            return self._result("unhealthy", _describe(self._error), self._latency_ms, None)

        outcome = self._outcome or Outcome()
        status, reason = outcome.status, outcome.reason
        limit = self.check.degraded_after_ms
        if status == "healthy" and limit is not None and self._latency_ms > limit:
            status, reason = "degraded", f"slow: {self._latency_ms:.0f} ms (over {limit:g} ms)"
        return self._result(status, reason, self._latency_ms, outcome.details)

    def _result(
        self,
        status: Status,
        reason: str,
        latency_ms: float | None,
        details: dict[str, Any] | None,
    ) -> CheckResult:
        if latency_ms is None:
            latency_ms = self.check.timeout_s * 1000
        if status != "healthy":
            logger.warning(
                "health check %s %s: %s",
                self.check.name,
                status,
                reason,
                extra={"component": self.check.name, "duration_ms": round(latency_ms, 1)},
            )
        return CheckResult(
            name=self.check.name,
            status=status,
            latency_ms=round(latency_ms, 1),
            reason=reason[:_MAX_REASON],
            critical=self.check.critical,
            details=details,
        )


def _describe(error: BaseException) -> str:
    if isinstance(error, CheckFailed):
        return str(error)
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
