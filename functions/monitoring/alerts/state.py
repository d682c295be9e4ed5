"""Alert state per rule and label set, the pure state machine, and where state is kept.

``step()`` is the whole state machine and knows nothing of storage: the evaluator runs it
inside a Firestore transaction, and rule unit tests and backtests run it on a dict. States:

    inactive ──breach──▶ pending ──held for `for`──▶ firing ──clear past keep_firing_for──▶ resolved
        ▲                  │ clear                                                        │
        └──────────────────┴──────────────────────────── breach again: pending ◀──────────┘

A transaction per label set makes the evaluator safe to run twice for one minute (Cloud
Scheduler delivers at least once): the second run sees ``last_eval`` at that minute and does
nothing, so one transition produces one notification.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from monitoring.clock import as_utc
from monitoring.store import Collections

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = [
    "AlertState",
    "FirestoreStateStore",
    "MemoryStateStore",
    "StateStore",
    "Step",
    "fingerprint",
    "step",
]

StateName = Literal["inactive", "pending", "firing", "resolved"]
NotifyKind = Literal["firing", "resolved", "repeat"]
R = TypeVar("R")


def fingerprint(rule: str, labels: Mapping[str, str]) -> str:
    """Return the stable id of one alert: its rule and label set."""
    body = json.dumps([rule, sorted(labels.items())])
    return hashlib.sha256(body.encode()).hexdigest()[:24]


@dataclass
class AlertState:
    rule: str
    labels: dict[str, str]
    severity: str = "warning"
    state: StateName = "inactive"
    active_since: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    last_true_at: datetime | None = None
    last_eval: datetime | None = None
    value: float | None = None
    no_data: bool = False
    episode: int = 0
    notified_firing: bool = False
    notified_resolved: bool = False
    last_notified_at: datetime | None = None
    repeats: int = 0
    rule_version: str = ""
    # Where its messages go (None: routed by labels), kept so that the resolved message of
    # an alert whose rule was removed goes where its firing message went.
    receivers: list[str] | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.labels)

    @property
    def episode_id(self) -> str:
        """Return what names the current firing episode in notification keys.

        The episode number alone repeats whenever state starts afresh (a replay's store in
        memory, a cleared ``fw_alert_state``); the outbox would then take the new episode's
        messages for the old one's and send nothing. When it fired does not repeat.
        """
        fired = f"{self.fired_at:%Y%m%dT%H%MZ}" if self.fired_at else "never"
        return f"{self.episode}@{fired}"

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> AlertState:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in doc.items() if k in known}
        for key, value in values.items():
            if isinstance(value, datetime):
                values[key] = as_utc(value)
        return cls(**values)


@dataclass
class Step:
    """What one evaluation of one alert decided."""

    state: AlertState
    transition: tuple[StateName, StateName] | None = None
    notify: NotifyKind | None = None


def step(
    prev: AlertState,
    breached: bool | None,
    value: float | None,
    now: datetime,
    *,
    for_: timedelta,
    keep_firing_for: timedelta,
    no_data: str,
    repeat_interval: timedelta,
) -> Step:
    """Return the next state of ``prev`` given this minute's observation.

    ``breached`` ``None`` means no data, handled by ``no_data``: ``keep`` changes nothing,
    ``alert`` counts as a breach, ``resolve`` as a clear that ignores ``keep_firing_for``.
    """
    s = replace(prev, last_eval=now, no_data=breached is None)
    before = prev.state
    force_clear = False
    if breached is None:
        if no_data == "alert":
            breached = True
        elif no_data == "resolve":
            breached, force_clear = False, True
    else:
        s.value = value

    if breached is True:
        s.last_true_at = now
        if s.state in ("inactive", "resolved"):
            s.state, s.active_since = "pending", now
        if s.state == "pending" and s.active_since and now - s.active_since >= for_:
            s.state, s.fired_at, s.resolved_at = "firing", now, None
            s.episode += 1
            s.notified_firing = s.notified_resolved = False
            s.repeats, s.last_notified_at = 0, None
    elif breached is False:
        if s.state == "pending":
            s.state, s.active_since = "inactive", None
        elif s.state == "firing":
            kept = (
                not force_clear
                and s.last_true_at is not None
                and now - s.last_true_at < keep_firing_for
            )
            if not kept:
                s.state, s.resolved_at, s.active_since = "resolved", now, None

    notify: NotifyKind | None = None
    if s.state == "firing" and not s.notified_firing:
        notify = "firing"
    elif s.state == "firing" and s.last_notified_at and now - s.last_notified_at >= repeat_interval:
        notify = "repeat"
    elif s.state == "resolved" and s.notified_firing and not s.notified_resolved:
        notify = "resolved"
    transition = (before, s.state) if s.state != before else None
    return Step(s, transition, notify)


class StateStore(Protocol):
    def load_all(self) -> dict[str, AlertState]: ...

    def apply(
        self,
        fp: str,
        fn: Callable[[AlertState | None], tuple[AlertState, R, dict[str, Any] | None] | None],
    ) -> R | None:
        """Run ``fn`` on the stored state atomically; store what it returns (state, result,
        history entry) unless it returns ``None``."""
        ...

    def mark(self, fp: str, updates: Mapping[str, Any]) -> None: ...

    def mark_history(self, entry_id: str, updates: Mapping[str, Any]) -> None: ...


@dataclass
class MemoryStateStore:
    """State in a dict, for rule unit tests and backtests."""

    states: dict[str, AlertState] = field(default_factory=dict)
    history: dict[str, dict[str, Any]] = field(default_factory=dict)

    def load_all(self) -> dict[str, AlertState]:
        return {fp: replace(s) for fp, s in self.states.items()}

    def apply(
        self,
        fp: str,
        fn: Callable[[AlertState | None], tuple[AlertState, R, dict[str, Any] | None] | None],
    ) -> R | None:
        prev = self.states.get(fp)
        out = fn(replace(prev) if prev else None)
        if out is None:
            return None
        state, result, entry = out
        self.states[fp] = state
        if entry is not None:
            self.history[entry["id"]] = entry
        return result

    def mark(self, fp: str, updates: Mapping[str, Any]) -> None:
        state = self.states[fp]
        for key, value in updates.items():
            setattr(state, key, value)

    def mark_history(self, entry_id: str, updates: Mapping[str, Any]) -> None:
        self.history[entry_id].update(updates)


class FirestoreStateStore:
    """State in ``fw_alert_state`` and transitions in ``fw_alert_history``."""

    def __init__(self, settings: Settings, client: Any = None) -> None:
        from monitoring.store import firestore_client

        self.client = client or firestore_client(settings)
        self.states = self.client.collection(Collections.ALERT_STATE)
        self.history = self.client.collection(Collections.ALERT_HISTORY)

    def load_all(self) -> dict[str, AlertState]:
        return {snap.id: AlertState.from_doc(snap.to_dict() or {}) for snap in self.states.stream()}

    def apply(
        self,
        fp: str,
        fn: Callable[[AlertState | None], tuple[AlertState, R, dict[str, Any] | None] | None],
    ) -> R | None:
        from google.cloud import firestore

        ref = self.states.document(fp)

        @firestore.transactional  # type: ignore[untyped-decorator,unused-ignore]
        def run(transaction: Any) -> R | None:
            snap = ref.get(transaction=transaction)
            prev = AlertState.from_doc(snap.to_dict() or {}) if snap.exists else None
            out = fn(prev)
            if out is None:
                return None
            state, result, entry = out
            transaction.set(ref, state.to_doc())
            if entry is not None:
                transaction.set(self.history.document(entry["id"]), entry)
            return result

        result: R | None = run(self.client.transaction())
        return result

    def mark(self, fp: str, updates: Mapping[str, Any]) -> None:
        self.states.document(fp).update(dict(updates))

    def mark_history(self, entry_id: str, updates: Mapping[str, Any]) -> None:
        self.history.document(entry_id).update(dict(updates))
