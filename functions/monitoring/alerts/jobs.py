"""The every-minute ``evaluate_alerts`` job."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitoring.alerts.evaluator import EvaluationResult, Sink, evaluate
from monitoring.alerts.rules import RuleSet, load_rules
from monitoring.alerts.source import KpiSource, MetricSource
from monitoring.alerts.state import FirestoreStateStore, StateStore
from monitoring.notifiers.model import Notification

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["OutboxSink", "run_evaluation"]

logger = logging.getLogger(__name__)


class OutboxSink:
    """Queue notifications in the outbox; open or update incidents for critical alerts."""

    def __init__(self, settings: Settings, *, incident_origin: str = "") -> None:
        self.settings = settings
        self.incident_origin = incident_origin  # "replay" keeps a replay's incidents apart

    def send(self, notification: Notification, receivers: list[str] | None, now: datetime) -> None:
        from monitoring.notifiers.outbox import enqueue

        enqueue(self.settings, notification, receivers, now=now)
        if notification.severity != "critical":
            return
        try:
            from monitoring.incidents.service import handle_alert

            handle_alert(self.settings, notification, now, origin=self.incident_origin)
        except Exception:  # an incident failure must never stop alert evaluation
            logger.error("incident handling failed for %s", notification.key, exc_info=True)


def run_evaluation(
    settings: Settings,
    now: datetime,
    *,
    source: MetricSource | None = None,
    store: StateStore | None = None,
    sink: Sink | None = None,
    rules: RuleSet | None = None,
) -> EvaluationResult:
    """Evaluate every rule of ``settings.alerts_file`` at ``now`` and send what changed.

    Idempotent per minute: a second run for the same minute changes nothing and sends
    nothing. Raises ``RuleError`` when the rules file does not load.
    """
    from monitoring.alerts.silences import active_silences

    rules = rules or load_rules(settings.alerts_file, settings)
    store = store or FirestoreStateStore(settings)
    client: Any = getattr(store, "client", None)
    return evaluate(
        rules,
        source or KpiSource(settings),
        store,
        now,
        sink=sink or OutboxSink(settings),
        silences=active_silences(settings, now, client),
        repeat_interval=timedelta(minutes=settings.alerts.repeat_interval_minutes),
    )
