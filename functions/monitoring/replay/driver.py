"""Replay a request log through the live pipeline, with the log's own times as the clock.

Steps of ``replay_file``:

1. open the file (plain or gzip) and detect its format from the first lines, unless named;
2. parse every line and bucket requests by their own minute (``Aggregator``), holding only
   the minutes still inside the lateness horizon;
3. when a minute closes, in time order: record each request as an API performance event in
   the KPI recorder, flush the minute's rollups to Firestore as a live instance would, run
   the alert evaluator at the end of that minute with the rules of ``alerts.yaml``, run the
   incident tick, and deliver what was queued (in a dry run, only collect it); of a long run
   of minutes without requests, only as many as the rules and incidents need
   (``_quiet_minutes``, a day at least) are closed, and the rest is skipped;
4. close the replay's incidents that would have closed in the quiet period after the log;
5. summarise lines, traffic, latency and the alert timeline.

Only the rules that read what a request log carries are evaluated (``REPLAYED_METRICS``),
unless ``all_rules``.

Alert state is always kept in memory for the replay: its clock is the log's, while the live
``evaluate_alerts`` keeps state on the wall clock, and the evaluator ignores a minute older
than the last one it evaluated, so sharing ``fw_alert_state`` would make each skip the
other's minutes. Notifications and incidents are real, and marked as the replay's: titles
say "[replay]", keys carry the replay's run id (``_ReplaySink``), and incidents have the
replay ``origin``, so they neither join a live incident of the same service nor are
escalated by the live tick on the wall clock. A dry run hands notifications to a collecting
sink, so nothing is enqueued, delivered or opened as an incident; the KPI rollups are still
written, because the evaluator reads them from Firestore.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from monitoring.clock import Clock, SystemClock
from monitoring.replay.aggregate import QUIET_MINUTES, Aggregator, MinuteBucket
from monitoring.replay.endpoints import EndpointNamer
from monitoring.replay.formats import detect_format, make_parser
from monitoring.replay.model import ReplayInputError
from monitoring.replay.source import LogSource
from monitoring.replay.summary import AlertEpisode, ReplaySummary, SentNotification, summarise
from monitoring.replay.timeparse import load_tz

if TYPE_CHECKING:
    from monitoring.alerts.evaluator import EvaluationResult, Sink
    from monitoring.alerts.rules import Rule, RuleSet
    from monitoring.alerts.state import StateStore
    from monitoring.config import Settings
    from monitoring.kpi.recorder import Recorder
    from monitoring.notifiers.model import Notification

__all__ = ["ReplayOptions", "replay_file"]

logger = logging.getLogger(__name__)

_CHUNK_LINES = 20_000  # lines between progress reports
# Incidents a replay opens are its own: they never join, or are ticked with, live ones.
REPLAY_ORIGIN = "replay"
# What ``_Pipeline._record`` makes of each request.
REPLAYED_METRICS = frozenset({"api_requests", "api_response_time_ms", "api_errors", "auth_refused"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

Progress = Callable[[int, int], None]  # (bytes read so far, file size)


@dataclass(frozen=True)
class ReplayOptions:
    format: str | None = None  # None: detect from the first ``detect_lines`` lines
    tz: str | None = None  # zone of timestamps that carry none (HAProxy); None = UTC
    dry_run: bool = False
    horizon_minutes: int = 5  # how late (in minutes) a line may be and still be bucketed
    evaluate: bool = True  # run the alert evaluator for every minute
    max_endpoints: int = 50  # distinct endpoint labels before the rest become "other"
    keep_line_numbers: int = 20  # rejected / late line numbers kept for the report
    detect_lines: int = 50
    # Minutes without requests in a row evaluated one by one, raised to what the rules and
    # incidents need (``_quiet_minutes``); the rest of a longer gap is skipped.
    quiet_minutes: int = QUIET_MINUTES
    # False: only the rules that read what a request log carries (``REPLAYED_METRICS``);
    # the others would judge the log's period by whatever else is stored (no backup, no
    # cost, no health probes on a fresh stack) and page for it.
    all_rules: bool = False


class _Pipeline:
    """What happens to each closed minute: record, flush, evaluate, deliver."""

    def __init__(
        self,
        settings: Settings,
        options: ReplayOptions,
        on_notification: Callable[[Notification], None] | None,
        run_id: str = "",
    ) -> None:
        from monitoring.kpi.recorder import Recorder

        self.settings = settings
        self.options = options
        self.on_notification = on_notification
        self.run_id = run_id
        # A recorder of its own that flushes only when told, once per closed minute; the
        # series limit is raised because a log's whole endpoint mix arrives in one process.
        kpi = settings.kpi.model_copy(
            update={
                "flush_interval_s": 1e12,
                "flush_max_series": 10**9,
                "max_series_per_metric": max(settings.kpi.max_series_per_metric, 1000),
            }
        )
        self.recorder: Recorder = Recorder(
            settings.model_copy(update={"kpi": kpi}), shared_cap=False
        )
        self.namer = EndpointNamer(options.max_endpoints)
        self.refused = 0
        self.evaluations = 0
        self.evaluation_errors: list[str] = []
        self.open_episodes: dict[str, AlertEpisode] = {}
        self.episodes: list[AlertEpisode] = []
        self.sent: list[SentNotification] = []
        self._labels: dict[tuple[str, str, int], tuple[dict[str, str], dict[str, str]]] = {}
        self.last_minute_end: datetime | None = None
        self.warnings: list[str] = []
        self._checked_existing = False
        self.rules: RuleSet | None = None
        self.store: StateStore | None = None
        self.sink: Sink | None = None
        if options.evaluate:
            self._prepare_evaluation()

    def _prepare_evaluation(self) -> None:
        from monitoring.alerts.evaluator import CollectingSink
        from monitoring.alerts.jobs import OutboxSink
        from monitoring.alerts.rules import load_rules
        from monitoring.alerts.state import MemoryStateStore

        rules = load_rules(self.settings.alerts_file, self.settings)
        if not self.options.all_rules:
            skipped = [r.name for r in rules.rules if not _reads_only_requests(r)]
            rules = replace(rules, rules=[r for r in rules.rules if r.name not in skipped])
            if skipped:
                self.warnings.append(
                    f"{len(skipped)} rules not evaluated, as they read more than a request log "
                    f"carries ({', '.join(skipped)}); --all-rules evaluates them against "
                    "what else is stored for the period"
                )
        self.rules = rules
        self.store = MemoryStateStore()
        inner: Sink = (
            CollectingSink()
            if self.options.dry_run
            else OutboxSink(self.settings, incident_origin=REPLAY_ORIGIN)
        )
        self.sink = _ReplaySink(inner, self.run_id)

    def __call__(self, bucket: MinuteBucket) -> None:
        minute_end = datetime.fromtimestamp((bucket.minute + 1) * 60, UTC)
        self.last_minute_end = minute_end
        if not self._checked_existing and bucket.total:
            self._checked_existing = True
            self._warn_if_recorded(bucket.minute)
        self._record(bucket)
        self.recorder.flush(now=minute_end)
        if self.options.evaluate:
            self._evaluate(minute_end)

    def _warn_if_recorded(self, minute: int) -> None:
        """Warn when the log's first busy minute already has API requests stored.

        Rollups merge by adding, which is what makes concurrent live flushes exact; the same
        property means replaying a period twice counts its requests twice.
        """
        from monitoring.kpi.query import KpiQuery, Window

        start = datetime.fromtimestamp(minute * 60, UTC)
        window = Window(start, datetime.fromtimestamp((minute + 1) * 60, UTC))
        stored = KpiQuery(self.settings).aggregate("api_requests", "sum", window)
        if stored:
            message = (
                f"{start:%Y-%m-%d %H:%M}Z already had {stored:,.0f} API requests recorded; "
                "this replay adds to them (replaying a period twice counts it twice)"
            )
            logger.info("%s", message)  # the summary reports it
            self.warnings.append(message)

    def _record(self, bucket: MinuteBucket) -> None:
        from monitoring.kpi.recorder import RecordError

        record = self.recorder.record
        for request in bucket.requests or ():
            at = datetime.fromtimestamp(request.at, UTC)
            counted, timed = self._labels_for(request.path, request.method, request.status)
            status = request.status
            try:
                # The same events as kpi.recorder.track_api_performance, minus its immediate
                # per-5xx notifications: a replay reports through the evaluator's timeline.
                record("api_requests", 1, counted, at=at)
                if request.latency_ms is not None:
                    record("api_response_time_ms", request.latency_ms, timed, at=at)
                if status >= 500:
                    record("api_errors", 1, counted, at=at)
                elif status in (401, 403):
                    record(
                        "auth_refused",
                        1,
                        {"endpoint": counted["endpoint"], "status": str(status)},
                        at=at,
                    )
            except RecordError:
                self.refused += 1

    def _labels_for(
        self, path: str, method: str, status: int
    ) -> tuple[dict[str, str], dict[str, str]]:
        endpoint = self.namer(path)
        key = (endpoint, method, status // 100)
        labels = self._labels.get(key)
        if labels is None:
            verb = method if method in _METHODS else "OTHER"
            labels = (
                {"endpoint": endpoint, "method": verb, "status_class": f"{status // 100}xx"},
                {"endpoint": endpoint, "method": verb},
            )
            self._labels[key] = labels
        return labels

    def _evaluate(self, now: datetime) -> None:
        from monitoring.alerts.jobs import run_evaluation

        result = run_evaluation(
            self.settings, now, store=self.store, sink=self.sink, rules=self.rules
        )
        self.evaluations += 1
        self.evaluation_errors.extend(f"{now:%Y-%m-%d %H:%M}Z {e}" for e in result.errors)
        self._follow(result)
        for notification in result.sent:
            self.sent.append(
                SentNotification(
                    at=now,
                    key=notification.key,
                    status=notification.status,
                    severity=notification.severity,
                    title=notification.title,
                )
            )
            if self.on_notification is not None:
                self.on_notification(notification)
        if self.options.dry_run:
            return
        # As the live evaluate_alerts job does: the incident tick closes quiet incidents and
        # escalates, then the outbox is drained. Draining only when something was queued
        # saves a Firestore round trip per quiet minute; ``finish`` drains once more.
        ticked = self._tick(now)
        if result.sent or ticked:
            self.drain(now)

    def _tick(self, now: datetime) -> bool:
        try:
            from monitoring.incidents.service import tick_guarded
        except ImportError:  # a deployment without the incidents subsystem
            return False
        outcome = tick_guarded(self.settings, now, origin=REPLAY_ORIGIN)
        return outcome is not None and bool(outcome.closed or outcome.escalated or outcome.reminded)

    def close_quiet_incidents(self, wall: datetime) -> None:
        """Close the replay's incidents whose quiet period passed after the log ended.

        The log's clock stops at its last line; it runs on to the end of the quiet period,
        but never past the wall clock ``wall`` (a log of the last hour would otherwise close
        its incidents in the future). What is not due yet the live tick closes later on the
        wall clock. Only the quiet-period close runs: nothing is escalated or reminded.
        """
        from monitoring.incidents.service import tick

        if self.last_minute_end is None:
            return
        quiet = timedelta(minutes=self.settings.incidents.quiet_period_minutes)
        when = min(self.last_minute_end + quiet, max(wall, self.last_minute_end))
        tick(self.settings, when, origin=REPLAY_ORIGIN, close_only=True)

    def drain(self, now: datetime) -> None:
        from monitoring.notifiers.jobs import drain_outbox

        drain_outbox(self.settings, now)

    def _follow(self, result: EvaluationResult) -> None:
        """Turn the evaluator's transitions into firing episodes with their peak value."""
        from monitoring.alerts.state import fingerprint

        for transition in result.transitions:
            fp = fingerprint(transition.rule, transition.labels)
            if transition.to_state == "firing":
                state = result.states.get(fp)
                episode = AlertEpisode(
                    rule=transition.rule,
                    labels=dict(transition.labels),
                    severity=state.severity if state else "warning",
                    fired_at=transition.at,
                    peak_value=transition.value,
                )
                self.open_episodes[fp] = episode
                self.episodes.append(episode)
            elif transition.from_state == "firing" and fp in self.open_episodes:
                self.open_episodes.pop(fp).resolved_at = transition.at
        for fp, episode in self.open_episodes.items():
            state = result.states.get(fp)
            if state is None or state.value is None:
                continue
            if episode.peak_value is None or state.value > episode.peak_value:
                episode.peak_value = state.value


def _quiet_minutes(settings: Settings, options: ReplayOptions, rules: RuleSet | None) -> int:
    """Return how many minutes without requests in a row are evaluated one by one.

    Past the longest window, ``for`` and ``keep_firing_for`` of every rule, each evaluation
    of a quiet minute reads only empty windows and gives the same result, and past the
    incidents' quiet period no incident is left to close; the rest of a gap can be skipped.
    ``options.quiet_minutes`` is the floor. A ``trend`` baseline's past days are not
    counted: once its current window is empty its value holds until the baseline empties
    too, days later, and that change is left to the next request.
    """
    needed = [options.quiet_minutes, settings.incidents.quiet_period_minutes]
    needed.extend(_rule_minutes(rule) for rule in (rules.rules if rules else ()))
    return max(needed)


def _rule_minutes(rule: Rule) -> int:
    """Return the minutes after which a rule evaluated over quiet minutes stops changing."""
    windows = [
        timedelta(days=1) if agg.window == "today" else agg.window + agg.shift
        for agg in rule.condition.selectors()
    ]
    span = max(windows, default=timedelta(0)) + rule.for_ + rule.spec.keep_firing_for
    return math.ceil(span / timedelta(minutes=1))


def _reads_only_requests(rule: Rule) -> bool:
    metrics = {agg.metric for agg in rule.condition.selectors()}
    return bool(metrics) and metrics <= REPLAYED_METRICS


class _ReplaySink:
    """Mark what a replay sends as the replay's, then hand it on.

    Keys and dedup keys carry the replay's run id: each replay keeps alert state in memory,
    so two replays of one log make the same episodes at the same log times, and the outbox
    would take the second replay's messages for the first's and send nothing. Titles say
    "[replay]", so on-call can tell a replayed page from a live one.
    """

    def __init__(self, inner: Sink, run_id: str) -> None:
        self.inner = inner
        self.run_id = run_id

    def send(self, notification: Notification, receivers: list[str] | None, now: datetime) -> None:
        prefix = f"replay:{self.run_id}:"
        marked = notification.model_copy(
            update={
                "key": (prefix + notification.key)[:500],
                "dedup_key": prefix + (notification.dedup_key or notification.key),
                "title": f"[replay] {notification.title}"[:300],
            }
        )
        self.inner.send(marked, receivers, now)


def replay_file(
    settings: Settings,
    path: Path,
    options: ReplayOptions | None = None,
    *,
    progress: Progress | None = None,
    on_notification: Callable[[Notification], None] | None = None,
    clock: Clock | None = None,
) -> ReplaySummary:
    """Replay the log at ``path`` (see the module docstring) and return its summary.

    Raises ``ReplayInputError`` when the file cannot be read or its format recognised, and
    ``RuleError`` when ``alerts.yaml`` does not load. Malformed lines are never fatal: they
    are counted, and the first line numbers kept, in the summary; a line dated more than a
    day after ``clock`` (the system clock by default) is one.
    """
    options = options or ReplayOptions()
    began = time.perf_counter()
    now = (clock or SystemClock()).now()
    tz = load_tz(options.tz)
    with LogSource(path) as source:
        sample = source.head(options.detect_lines)
        first = sample[0].strip() if sample else ""
        if first == "[" or first.startswith("[{"):
            raise ReplayInputError(
                f"{path} is one JSON array (gcloud logging read --format=json); "
                "write one entry per line instead, e.g. with jq -c '.[]'"
            )
        fmt = options.format or detect_format(sample, tz, now=now)
        parse = make_parser(fmt, tz, now=now)
        run_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        pipeline = _Pipeline(settings, options, on_notification, run_id)
        aggregator = Aggregator(
            horizon_minutes=options.horizon_minutes,
            keep_requests=True,
            on_minute=pipeline,
            keep_line_numbers=options.keep_line_numbers,
            quiet_minutes=_quiet_minutes(settings, options, pipeline.rules),
        )
        lines = source.lines()
        while chunk := list(itertools.islice(lines, _CHUNK_LINES)):
            aggregator.consume(chunk, parse)
            if progress is not None:
                progress(source.position, source.size)
        aggregator.finish()
        if pipeline.last_minute_end is not None and options.evaluate and not options.dry_run:
            pipeline.drain(pipeline.last_minute_end)
            pipeline.close_quiet_incidents(now)
            pipeline.drain(pipeline.last_minute_end)

    summary = summarise(aggregator, path=str(path), fmt=fmt)
    summary.dry_run = options.dry_run
    summary.alerts = pipeline.episodes
    summary.notifications = pipeline.sent
    summary.evaluations = pipeline.evaluations
    summary.evaluation_errors = pipeline.evaluation_errors
    summary.refused_events = pipeline.refused
    summary.warnings = [*pipeline.warnings, *summary.warnings]
    summary.endpoints_other = pipeline.namer.overflowed
    summary.duration_s = round(time.perf_counter() - began, 3)
    logger.info(
        "replayed %s: %d lines, %d requests, %d rejected, %d alerts",
        path,
        summary.lines_read,
        summary.requests,
        summary.lines_rejected,
        len(summary.alerts),
    )
    return summary
