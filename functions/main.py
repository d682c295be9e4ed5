"""Firewatch's Cloud Functions: the deployment manifest.

Each function states its trigger here and hands its work to ``monitoring.entrypoints``.
Imports stay cheap (no Google client is created at import time), so cold starts and
``firebase deploy``'s discovery stay fast. Schedules are in UTC.
"""

from __future__ import annotations

from firebase_functions import https_fn, options, params, scheduler_fn

from monitoring import entrypoints

options.set_global_options(region="us-central1", cpu=1, max_instances=10)

UTC = scheduler_fn.Timezone("Etc/UTC")

# Secrets arrive as environment variables under the same names, which is where
# monitoring.config reads them. Set each with `firebase functions:secrets:set NAME`.
API_KEY = params.SecretParam("FIREWATCH_API_KEY")
ADMIN_SECRETS = [API_KEY]
# The LLM provider's key, for the health check's "llm" probe; "unset" skips that probe.
HEALTH_SECRETS = [API_KEY, params.SecretParam("FIREWATCH_HEALTH__LLM_API_KEY")]
# Notifier credentials (monitoring.notifiers.settings); set an unused one to "unset".
NOTIFY_SECRETS = [
    params.SecretParam(f"FIREWATCH_NOTIFY__{name}")
    for name in (
        "SMTP_PASSWORD",
        "SLACK_WEBHOOK_URL",
        "TWILIO_AUTH_TOKEN",
        "PAGERDUTY_ROUTING_KEY",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
        "APPRISE_URLS",
    )
]


@https_fn.on_request(timeout_sec=30, memory=options.MemoryOption.MB_256, secrets=HEALTH_SECRETS)
def health_check(req: https_fn.Request) -> https_fn.Response:
    return entrypoints.health_check(req)


@https_fn.on_request(timeout_sec=30, memory=options.MemoryOption.MB_256, secrets=ADMIN_SECRETS)
def record_metrics(req: https_fn.Request) -> https_fn.Response:
    return entrypoints.record_metrics(req)


@https_fn.on_request(timeout_sec=60, memory=options.MemoryOption.MB_512, secrets=ADMIN_SECRETS)
def dashboard(req: https_fn.Request) -> https_fn.Response:
    return entrypoints.dashboard(req)


@https_fn.on_request(timeout_sec=30, memory=options.MemoryOption.MB_256)
def status_page(req: https_fn.Request) -> https_fn.Response:
    return entrypoints.status_page(req)


@scheduler_fn.on_schedule(
    schedule="* * * * *", timezone=UTC, timeout_sec=55, max_instances=1, secrets=NOTIFY_SECRETS
)
def evaluate_alerts(event: scheduler_fn.ScheduledEvent) -> None:
    entrypoints.evaluate_alerts(event.schedule_time)


@scheduler_fn.on_schedule(
    schedule="* * * * *", timezone=UTC, timeout_sec=55, max_instances=1, secrets=HEALTH_SECRETS
)
def probe_health(event: scheduler_fn.ScheduledEvent) -> None:
    entrypoints.probe_health(event.schedule_time)


@scheduler_fn.on_schedule(
    schedule="* * * * *", timezone=UTC, timeout_sec=55, max_instances=1, secrets=NOTIFY_SECRETS
)
def deliver_notifications(event: scheduler_fn.ScheduledEvent) -> None:
    entrypoints.deliver_notifications(event.schedule_time)


@scheduler_fn.on_schedule(
    schedule="0 2 * * *",
    timezone=UTC,
    timeout_sec=1800,
    memory=options.MemoryOption.GB_1,
    retry_count=2,
    min_backoff_seconds=300,
)
def scheduled_backup(event: scheduler_fn.ScheduledEvent) -> None:
    entrypoints.scheduled_backup(event.schedule_time)


@scheduler_fn.on_schedule(schedule="15 * * * *", timezone=UTC, timeout_sec=540)
def compact_kpis(event: scheduler_fn.ScheduledEvent) -> None:
    entrypoints.compact_kpis(event.schedule_time)


@scheduler_fn.on_schedule(schedule="0 6 * * *", timezone=UTC, timeout_sec=540)
def daily_maintenance(event: scheduler_fn.ScheduledEvent) -> None:
    entrypoints.daily_maintenance(event.schedule_time)


@scheduler_fn.on_schedule(schedule="0 7 * * 1", timezone=UTC, timeout_sec=540)
def weekly_maintenance(event: scheduler_fn.ScheduledEvent) -> None:
    entrypoints.weekly_maintenance(event.schedule_time)


@scheduler_fn.on_schedule(
    schedule="0 8 1 * *", timezone=UTC, timeout_sec=1800, memory=options.MemoryOption.GB_1
)
def monthly_maintenance(event: scheduler_fn.ScheduledEvent) -> None:
    entrypoints.monthly_maintenance(event.schedule_time)
