"""Delivery: drain the outbox every minute (the ``deliver_notifications`` function).

``drain_outbox`` does, in order:

1. take the drain lock (``fw_locks/deliver_notifications``), so two drains never send the
   same message; a drain that dies holding it only delays the next by ``lease_s``;
2. read the outbox documents that are due and collect, per receiver, the due notifications;
   hold back one whose earlier message about the same problem (``dedup_key``) is still
   pending for that receiver, so a resolve never overtakes the trigger it closes;
3. per receiver, apply the rate limit and group: a receiver whose channel groups gets one
   message for everything due (up to ``group_max``), so a burst of 50 alerts is one message;
4. send every message in a thread pool, so a slow or failing receiver does not delay the
   others (messages about one problem go in one job, oldest first), and after each send
   mark its notifications delivered (or failed) for that receiver;
5. dead-letter a receiver that failed permanently or ran out of attempts, and fail over to its
   fallback receiver, never back to a channel the notification already failed on;
6. delete the outbox documents that every receiver has settled, and release the lock.

A crash between a send and its mark leaves the notification pending, so the next drain
sends it again: a duplicate at worst, never a loss. Receivers with keys drop the duplicate.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from monitoring.clock import as_utc, floor_minute
from monitoring.errors import DeliveryError, FirewatchError
from monitoring.notifiers import build_notifier
from monitoring.notifiers.base import Message, Notifier
from monitoring.notifiers.context import Context
from monitoring.notifiers.model import Notification
from monitoring.notifiers.outbox import enqueue, pending_entry, routing_for
from monitoring.notifiers.routing import Routing
from monitoring.store import Collections, firestore_client

if TYPE_CHECKING:
    from monitoring.config import Settings

__all__ = ["DrainResult", "context_for", "drain_outbox"]

logger = logging.getLogger(__name__)

LOCK_ID = "deliver_notifications"
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
MAX_RETRY_DELAY = timedelta(hours=1)
MARK_BATCH = 50
IN_QUERY_MAX = 30  # Firestore's limit on the values of one "in" filter


@dataclass
class DrainResult:
    skipped: bool = False
    messages: int = 0
    delivered: int = 0  # (notification, receiver) pairs
    failed: int = 0  # pairs to be retried later
    dead: int = 0  # pairs dead-lettered
    postponed: int = 0  # pairs held back by a rate limit
    settled: int = 0  # outbox documents finished and removed
    errors: dict[str, str] = field(default_factory=dict)  # receiver -> last error


@dataclass
class _Item:
    doc_id: str
    notification: Notification
    entry: dict[str, Any]


@dataclass
class _Doc:
    data: dict[str, Any]
    receivers: dict[str, dict[str, Any]]
    chain: list[str]


Planned = tuple[Message, list[_Item]]
Job = tuple[str, list[Planned]]  # a receiver and its messages, sent in order
Order = tuple[datetime, bool, str]
Pending = tuple[Order, str, datetime]  # an outbox message's order, document id, next attempt


def _order(n: Notification, doc_id: str) -> Order:
    """Return the sort key of messages about one problem: oldest first, resolved last."""
    return as_utc(n.created_at), n.status == "resolved", doc_id


def context_for(settings: Settings) -> Context:
    """Return the notifier context; in local mode aimed at the dev catchers (see settings)."""
    notify = settings.notify
    # `firewatch dev` (localstack.devhost) exports its webhook catcher's URL under this name.
    dev_url = notify.dev_webhook_url or os.environ.get("FIREWATCH_DEV_WEBHOOK_URL")
    catch_all = notify.dev_catch_all
    if catch_all is None:
        catch_all = settings.environment == "local" and dev_url is not None
    from monitoring.notifiers.ledger import FirestoreLedger

    return Context(
        settings=notify, dev_url=dev_url if catch_all else None, ledger=FirestoreLedger(settings)
    )


def drain_outbox(
    settings: Settings,
    now: datetime,
    *,
    ctx: Context | None = None,
    client: Any = None,
) -> DrainResult:
    """Deliver what is due at ``now``; see the module docstring for the steps.

    Returns counts; ``skipped`` means another drain holds the lock. Never raises for a
    receiver's failure: that is recorded on the outbox document and dead-lettered.
    """
    now = as_utc(now)
    db = client or firestore_client(settings)
    ctx = ctx or context_for(settings)
    routing = routing_for(settings)
    holder = uuid.uuid4().hex
    if not _acquire(db, holder, now, settings.notify.lease_s):
        logger.info("another drain holds the outbox lock; skipping")
        return DrainResult(skipped=True)
    own_client = ctx.client is None
    if own_client:
        # One connection pool for every receiver of this drain, closed when it ends.
        limits = httpx.Limits(max_connections=settings.notify.workers * 2)
        ctx = replace(ctx, client=httpx.Client(limits=limits, follow_redirects=False))
    try:
        return _Drain(settings, db, ctx, routing, now).run()
    finally:
        _release(db, holder)
        if own_client and ctx.client is not None:
            ctx.client.close()


def _acquire(db: Any, holder: str, now: datetime, lease_s: float) -> bool:
    from google.cloud import firestore

    ref = db.collection(Collections.LOCKS).document(LOCK_ID)

    @firestore.transactional
    def claim(transaction: Any) -> bool:
        snap = ref.get(transaction=transaction)
        if snap.exists and as_utc(snap.get("until")) > now:
            return False
        transaction.set(ref, {"holder": holder, "until": now + timedelta(seconds=lease_s)})
        return True

    return bool(claim(db.transaction()))


def _release(db: Any, holder: str) -> None:
    ref = db.collection(Collections.LOCKS).document(LOCK_ID)
    snap = ref.get()
    if snap.exists and snap.get("holder") == holder:
        ref.delete()


class _Drain:
    def __init__(
        self, settings: Settings, db: Any, ctx: Context, routing: Routing, now: datetime
    ) -> None:
        self.settings, self.db, self.ctx, self.routing, self.now = settings, db, ctx, routing, now
        self.policy = settings.notify
        self.result = DrainResult()
        self.docs: dict[str, _Doc] = {}
        self.lock = threading.Lock()
        self.notifiers: dict[str, Notifier] = {}
        self.marks: list[tuple[str, str, dict[str, Any]]] = []
        self.noticed: set[str] = set()  # receivers whose failure notice is already queued

    def run(self) -> DrainResult:
        due = self._load()
        self._hold_behind_earlier(due)
        work: list[Job] = []
        for name, items in due.items():
            work += self._plan(name, items)
        with ThreadPoolExecutor(max_workers=self.policy.workers) as pool:
            list(pool.map(lambda job: self._send_in_order(*job), work))
        self._settle()
        self.result.messages = sum(len(messages) for _, messages in work)
        logger.info(
            "outbox drained: %d messages, %d delivered, %d to retry, %d dead-lettered",
            self.result.messages,
            self.result.delivered,
            self.result.failed,
            self.result.dead,
            extra={"settled": self.result.settled, "postponed": self.result.postponed},
        )
        return self.result

    # 2. What is due ----------------------------------------------------------------------

    def _load(self) -> dict[str, list[_Item]]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self.db.collection(Collections.OUTBOX)
            .where(filter=FieldFilter("next_attempt_at", "<=", self.now))
            .order_by("next_attempt_at")
            .limit(self.policy.batch_size)
        )
        due: dict[str, list[_Item]] = defaultdict(list)
        for snap in query.stream():
            data = snap.to_dict()
            doc = _Doc(data, data.get("receivers", {}), list(data.get("chain", [])))
            self.docs[snap.id] = doc
            notification = Notification.model_validate(data["notification"])
            for name, entry in sorted(doc.receivers.items()):
                if entry["state"] == "pending" and as_utc(entry["next_attempt_at"]) <= self.now:
                    due[name].append(_Item(snap.id, notification, entry))
        return due

    def _hold_behind_earlier(self, due: dict[str, list[_Item]]) -> None:
        """Postpone each due item while an earlier message with its ``dedup_key`` is pending
        for the same receiver and not in this drain (waiting out a Retry-After, say): sent
        first, a resolve finds no incident on PagerDuty and the late trigger opens one that
        nothing closes. An earlier message due in this drain is ordered by ``_jobs`` instead."""
        earlier = self._pending_by_key(due)
        due_now = {(name, item.doc_id) for name, items in due.items() for item in items}
        for name, items in due.items():
            kept = []
            for item in items:
                mine = _order(item.notification, item.doc_id)
                blocking = [
                    until
                    for order, doc_id, until in earlier.get((name, item.notification.dedup_key), [])
                    if order < mine and (name, doc_id) not in due_now
                ]
                if blocking:
                    self._postpone(name, item, until=max(blocking))
                else:
                    kept.append(item)
            items[:] = kept

    def _pending_by_key(
        self, due: dict[str, list[_Item]]
    ) -> dict[tuple[str, str | None], list[Pending]]:
        """Return, per (receiver, dedup key) of the due items, the outbox messages still
        pending for that receiver: their order, document id and next attempt. One query per
        30 keys, so a drain of a burst of 50 alerts costs two."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        keys = sorted({k for v in due.values() for i in v if (k := i.notification.dedup_key)})
        found: dict[tuple[str, str | None], list[Pending]] = defaultdict(list)
        for start in range(0, len(keys), IN_QUERY_MAX):
            part = keys[start : start + IN_QUERY_MAX]
            query = self.db.collection(Collections.OUTBOX).where(
                filter=FieldFilter("notification.dedup_key", "in", part)
            )
            for snap in query.stream():
                data = snap.to_dict() or {}
                n = Notification.model_validate(data["notification"])
                for name, entry in data.get("receivers", {}).items():
                    if entry["state"] == "pending":
                        until = as_utc(entry["next_attempt_at"])
                        found[(name, n.dedup_key)].append((_order(n, snap.id), snap.id, until))
        return found

    # 3. Rate limit and grouping ------------------------------------------------------------

    def _plan(self, name: str, items: list[_Item]) -> list[Job]:
        config = self.routing.receivers.get(name)
        if config is None:
            error = DeliveryError(f"receiver {name} is no longer in alerts.yaml", permanent=True)
            for item in items:
                self._failed(name, item, error)
            return []
        try:
            notifier = self.notifiers[name] = build_notifier(name, config, self.ctx)
        except FirewatchError as error:
            failure = DeliveryError(str(error), permanent=True)
            for item in items:
                self._failed(name, item, failure)
            return []

        # Most severe first, then oldest: a grouped message leads with what matters.
        items.sort(key=lambda i: (SEVERITY_ORDER[i.notification.severity], _created(i), i.doc_id))
        size = self.policy.group_max if notifier.groups else 1
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        limit = config.rate_limit_per_minute or self.policy.rate_limit_per_minute
        allowed = max(0, limit - self._sent_this_minute(name))
        for chunk in chunks[allowed:]:
            for item in chunk:
                self._postpone(name, item)
        planned = chunks[:allowed]
        if planned:
            self._count_sent(name, len(planned))
        return [(name, job) for job in _jobs([(self._message(name, c), c) for c in planned])]

    def _message(self, name: str, chunk: list[_Item]) -> Message:
        if len(chunk) == 1:
            key = chunk[0].doc_id
        else:
            joined = "\x00".join([name, *sorted(item.doc_id for item in chunk)])
            key = "group-" + hashlib.sha256(joined.encode()).hexdigest()[:32]
        notes = dict.fromkeys(item.entry.get("note") or "" for item in chunk)
        return Message(
            key=key,
            notifications=[item.notification for item in chunk],
            receiver=name,
            note=" ".join(note for note in notes if note),
        )

    def _rate_ref(self, name: str) -> Any:
        return self.db.collection(Collections.RATE_LIMITS).document(f"notify-{name}")

    def _sent_this_minute(self, name: str) -> int:
        snap = self._rate_ref(name).get()
        if not snap.exists or as_utc(snap.get("minute")) != floor_minute(self.now):
            return 0
        return int(snap.get("count"))

    def _count_sent(self, name: str, count: int) -> None:
        minute = floor_minute(self.now)
        self._rate_ref(name).set({"minute": minute, "count": self._sent_this_minute(name) + count})

    def _postpone(self, name: str, item: _Item, until: datetime | None = None) -> None:
        later = max(floor_minute(self.now) + timedelta(minutes=1), until or self.now)
        with self.lock:
            self.docs[item.doc_id].receivers[name]["next_attempt_at"] = later
            self.result.postponed += 1

    # 4. Send and mark ----------------------------------------------------------------------

    def _send_in_order(self, name: str, messages: list[Planned]) -> None:
        """Send ``messages`` one after another; after a failure hold the rest back until the
        failed message's next attempt, so they never arrive before it."""
        for position, (message, items) in enumerate(messages):
            if self._send(name, message, items):
                continue
            retry = [self.docs[i.doc_id].receivers[name] for i in items]
            until = max(as_utc(e["next_attempt_at"]) for e in retry)
            for _, later in messages[position + 1 :]:
                for item in later:
                    self._postpone(name, item, until=until)
            return

    def _send(self, name: str, message: Message, items: list[_Item]) -> bool:
        """Send one message and mark its items; return whether it was delivered."""
        try:
            self.notifiers[name].send(message)
        except DeliveryError as error:
            failure = error
        except FirewatchError as error:  # a broken template: retrying renders it the same
            failure = DeliveryError(str(error), permanent=True)
        except Exception:  # the guard: a bug in one channel must not lose the others' marks
            logger.exception("notifier %s crashed", name, extra={"receiver": name})
            failure = DeliveryError(f"{name} notifier crashed; see the function log")
        else:
            self._delivered(name, items)
            return True
        for item in items:
            self._failed(name, item, failure)
        self._write(name, items)
        return False

    def _delivered(self, name: str, items: list[_Item]) -> None:
        with self.lock:
            for item in items:
                entry = self.docs[item.doc_id].receivers[name]
                entry.update(state="delivered", delivered_at=self.now, last_error=None)
                entry["attempts"] += 1
                self.result.delivered += 1
        self._write(name, items)

    def _write(self, name: str, items: list[_Item]) -> None:
        """Record each item's state for ``name`` soon after the send, so a crash later in
        this drain resends at most the last few messages, not everything it sent.

        Marks are committed in batches of ``MARK_BATCH``: one commit per message would cost
        more than the sends themselves when a receiver cannot group (PagerDuty).
        """
        from google.cloud.firestore_v1.field_path import FieldPath

        with self.lock:
            for item in items:
                entry = dict(self.docs[item.doc_id].receivers[name])
                path = FieldPath("receivers", name).to_api_repr()
                self.marks.append((item.doc_id, path, entry))
            if len(self.marks) < MARK_BATCH:
                return
            marks, self.marks = self.marks, []
        self._commit_marks(marks)

    def _commit_marks(self, marks: list[tuple[str, str, dict[str, Any]]]) -> None:
        batch = self.db.batch()
        for doc_id, path, entry in marks:
            batch.update(self.db.collection(Collections.OUTBOX).document(doc_id), {path: entry})
        batch.commit()

    # 5. Failure, dead letters and failover -------------------------------------------------

    def _failed(self, name: str, item: _Item, error: DeliveryError) -> None:
        with self.lock:
            doc = self.docs[item.doc_id]
            entry = doc.receivers[name]
            entry["attempts"] += 1
            entry["last_error"] = str(error)
            self.result.errors[name] = str(error)
            if not error.permanent and entry["attempts"] < self.policy.max_attempts:
                entry["next_attempt_at"] = self.now + self._retry_delay(entry["attempts"], error)
                self.result.failed += 1
                return
            entry["state"] = "dead"
            self.result.dead += 1
            fallback = self._fallback(name, doc)
            if fallback is not None and fallback not in doc.receivers:
                doc.receivers[fallback] = pending_entry(
                    self.now, via=name, note=f"Sent to {fallback} because {name} failed: {error}"
                )
            if name not in doc.chain:
                doc.chain.append(name)
        self._dead_letter(name, item, error, fallback)

    def _retry_delay(self, attempts: int, error: DeliveryError) -> timedelta:
        base = self.policy.retry_delay_s * 2 ** (attempts - 1)
        jittered = base * (0.5 + self.ctx.rng.random() / 2)
        delay = timedelta(seconds=max(jittered, error.retry_after or 0))
        return min(delay, MAX_RETRY_DELAY)

    def _fallback(self, name: str, doc: _Doc) -> str | None:
        config = self.routing.receivers.get(name)
        fallback = config.fallback if config is not None else None
        # Never fail over to a channel this notification already failed on (no loops).
        if fallback is None or fallback == name or fallback in doc.chain:
            return None
        return fallback

    def _dead_letter(
        self, name: str, item: _Item, error: DeliveryError, fallback: str | None
    ) -> None:
        n = item.notification
        logger.error(
            "giving up on %s for notification %s: %s",
            name,
            n.key,
            error,
            extra={"receiver": name, "outbox_id": item.doc_id, "fallback": fallback},
        )
        self.db.collection(Collections.DEAD_LETTERS).document(f"{item.doc_id}-{name}").set(
            {
                "outbox_id": item.doc_id,
                "receiver": name,
                "key": n.key,
                "title": n.title,
                "error": str(error),
                "permanent": error.permanent,
                "attempts": item.entry["attempts"],
                "fallback": fallback,
                "at": self.now,
            }
        )
        with self.lock:
            first = name not in self.noticed
            self.noticed.add(name)
        if fallback is not None and n.kind != "system" and first:
            self._notice(name, fallback, error, item.doc_id)

    def _notice(self, name: str, fallback: str, error: DeliveryError, doc_id: str) -> None:
        """Tell the operator, through ``fallback``, that receiver ``name`` is broken: one
        notice per receiver per hour, however many notifications it dropped."""
        hour = self.now.replace(minute=0, second=0, microsecond=0)
        notice = Notification(
            key=f"receiver-failed:{name}:{hour:%Y%m%dT%H}",
            kind="system",
            status="info",
            severity="warning",
            title=f"Notification channel {name} is failing",
            summary=f"Delivery to {name} failed and was given up: {error}",
            description=f"Notifications for {name} go to {fallback} until it works again. "
            "Check its settings, then run: firewatch notify test " + name,
            labels={"receiver": name},
            created_at=self.now,
        )
        doc = self.docs[doc_id]
        enqueue(self.settings, notice, [fallback], now=self.now, chain=[*doc.chain], client=self.db)

    # 6. Settle -----------------------------------------------------------------------------

    def _settle(self) -> None:
        # The full receiver states written below supersede any marks still buffered.
        self.marks = []
        batch, ops = self.db.batch(), 0
        for doc_id, doc in self.docs.items():
            ref = self.db.collection(Collections.OUTBOX).document(doc_id)
            pending = [e for e in doc.receivers.values() if e["state"] == "pending"]
            if pending:
                batch.update(
                    ref,
                    {
                        "receivers": doc.receivers,
                        "chain": doc.chain,
                        "next_attempt_at": min(as_utc(e["next_attempt_at"]) for e in pending),
                    },
                )
            else:
                record = self.db.collection(Collections.DELIVERIES).document(doc_id)
                states = {name: e["state"] for name, e in doc.receivers.items()}
                batch.delete(ref)
                batch.update(
                    record, {"receivers": states, "settled_at": self.now, "errors": _errors(doc)}
                )
                self.result.settled += 1
            ops += 2
            if ops >= 400:
                batch.commit()
                batch, ops = self.db.batch(), 0
        if ops:
            batch.commit()


def _created(item: _Item) -> datetime:
    return as_utc(item.notification.created_at)


def _jobs(planned: list[Planned]) -> list[list[Planned]]:
    """Return ``planned`` split into jobs: messages that share a dedup key (a trigger and its
    resolve) share a job, oldest first, and so are never sent at the same time; every other
    message is a job of its own, sent in parallel."""
    jobs: list[list[Planned]] = []
    job_of: dict[str, int] = {}
    for message, items in planned:
        keys = {k for i in items if (k := i.notification.dedup_key)}
        joined = sorted({job_of[k] for k in keys if k in job_of})
        if not joined:
            jobs.append([])
            joined = [len(jobs) - 1]
        target = joined[0]
        for other in joined[1:]:  # a grouped message that ties two jobs together
            jobs[target] += jobs[other]
            jobs[other] = []
            job_of.update({k: target for k, j in job_of.items() if j == other})
        jobs[target].append((message, items))
        job_of.update(dict.fromkeys(keys, target))
    return [sorted(job, key=_first) for job in jobs if job]


def _first(planned: Planned) -> Order:
    return min(_order(i.notification, i.doc_id) for i in planned[1])


def _errors(doc: _Doc) -> dict[str, str]:
    return {name: e["last_error"] for name, e in doc.receivers.items() if e.get("last_error")}
