"""The sections of the daily report. Each reads what it needs and returns one ``Section``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitoring.maintenance.report import Section

if TYPE_CHECKING:
    from monitoring.config import Settings
    from monitoring.kpi.query import KpiQuery, Window

__all__ = [
    "backup_section",
    "cost_section",
    "health_section",
    "incident_section",
    "kpi_section",
    "security_section",
]

BASELINE_DAYS = 7


def _days(now: datetime) -> tuple[Window, Window]:
    """Return yesterday (the last complete UTC day) and the seven days before it."""
    from monitoring.kpi.query import Window

    yesterday = Window.utc_day(now - timedelta(days=1))
    return yesterday, Window(yesterday.start - timedelta(days=BASELINE_DAYS), yesterday.start)


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "no data"
    if unit == "%":
        return f"{value * 100:.2f}%"
    if unit == "$":
        return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"
    if unit == "ms":
        return f"{value:,.0f} ms"
    return f"{value:,.0f}"


def _change(current: float | None, baseline: float | None) -> float | None:
    if current is None or baseline is None or baseline == 0:
        return None
    return (current - baseline) / baseline


def _fmt_change(change: float | None) -> str:
    return "n/a" if change is None else f"{change * 100:+.1f}%"


# Health ------------------------------------------------------------------------------------


def health_section(settings: Settings, now: datetime) -> Section:
    from monitoring.health.checks import run_checks

    report = run_checks(settings, now)
    rows = [
        [check.name, check.status, f"{check.latency_ms:.0f} ms", check.reason]
        for check in report.checks
    ]
    bad = [check.name for check in report.checks if check.status != "healthy"]
    status = {"healthy": "ok", "degraded": "warn"}.get(report.status, "fail")
    summary = f"Overall {report.status}; {len(report.checks)} components checked"
    summary += f", not healthy: {', '.join(bad)}." if bad else ", all healthy."
    return Section(
        key="health",
        title="Health",
        status=status,
        summary=summary,
        columns=["Component", "Status", "Latency", "Detail"],
        rows=rows,
    )


# KPIs --------------------------------------------------------------------------------------


def _kpis(query: KpiQuery, window: Window, days: int) -> dict[str, float | None]:
    executions = query.aggregate("prompt_executions", "sum", window)
    cost = query.aggregate("prompt_cost_usd", "sum", window)
    return {
        "p95": query.aggregate("api_response_time_ms", "quantile", window, q=0.95),
        "error_rate": query.ratio("api_errors", "api_requests", window),
        "executions": None if executions is None else executions / days,
        "cost_per_execution": (cost or 0.0) / executions if executions else None,
    }


def kpi_section(settings: Settings, now: datetime, query: KpiQuery | None = None) -> Section:
    from monitoring.kpi.query import KpiQuery

    query = query or KpiQuery(settings)
    yesterday, baseline = _days(now)
    current = _kpis(query, yesterday, 1)
    before = _kpis(query, baseline, BASELINE_DAYS)
    threshold = settings.maintenance.change_threshold

    labels = {
        "p95": ("API response time P95", "ms", True),
        "error_rate": ("API error rate", "%", True),
        "executions": ("Prompt executions per day", "", False),
        "cost_per_execution": ("Cost per execution", "$", True),
    }
    rows, worse = [], []
    for key, (label, unit, up_is_bad) in labels.items():
        change = _change(current[key], before[key])
        rows.append([label, _fmt(current[key], unit), _fmt(before[key], unit), _fmt_change(change)])
        if change is not None and up_is_bad and change > threshold:
            worse.append(f"{label} rose {change * 100:.0f}% against the 7-day baseline")
    if all(value is None for value in current.values()):
        return Section(
            key="kpis",
            title="KPIs: yesterday against the 7-day baseline",
            status="warn",
            summary=f"No KPI data for {yesterday.start:%Y-%m-%d}; is the app recording?",
            columns=["KPI", "Yesterday", "7-day baseline", "Change"],
            rows=rows,
        )
    return Section(
        key="kpis",
        title="KPIs: yesterday against the 7-day baseline",
        status="warn" if worse else "ok",
        summary="; ".join(worse) + "." if worse else "No KPI moved beyond its usual range.",
        columns=["KPI", "Yesterday", "7-day baseline", "Change"],
        rows=rows,
    )


# Cost --------------------------------------------------------------------------------------


def cost_section(settings: Settings, now: datetime, query: KpiQuery | None = None) -> Section:
    from monitoring.kpi.query import KpiQuery

    query = query or KpiQuery(settings)
    yesterday, _ = _days(now)
    budget = settings.daily_budget_usd
    spend = query.aggregate("prompt_cost_usd", "sum", yesterday) or 0.0
    by_model = {
        k: v
        for k, v in query.aggregate_by("prompt_cost_usd", "sum", yesterday, "model").items()
        if v
    }
    runs = query.aggregate_by("prompt_executions", "sum", yesterday, "model")
    share = spend / budget
    status = "fail" if share > 1 else "warn" if share > 0.8 else "ok"

    rows, advice = [], []
    ranked = sorted(by_model.items(), key=lambda item: item[1] or 0.0, reverse=True)
    for model, cost in ranked[:5]:
        count = runs.get(model) or 0.0
        per_run = _fmt(cost / count, "$") if count else "n/a"
        rows.append(
            [f"model {model}", _fmt(cost, "$"), f"{(cost or 0) / spend * 100:.0f}%", per_run]
        )
    if ranked and spend and (ranked[0][1] or 0) / spend >= 0.5:
        model, cost = ranked[0]
        advice.append(
            f"Model {model} took {(cost or 0) / spend * 100:.0f}% of yesterday's spend "
            f"({_fmt(cost, '$')}): send simpler prompts to a cheaper model or cache its answers."
        )
    if share > 1:
        advice.append(
            f"Spend was {share * 100:.0f}% of the ${budget:,.2f} daily budget; cap tokens per "
            "request or rate-limit the heaviest callers until it is back under."
        )

    endpoints = query.aggregate_by("api_requests", "sum", yesterday, "endpoint")
    busiest = sorted(((k, v) for k, v in endpoints.items() if v), key=lambda kv: -kv[1])[:3]
    for endpoint, count in busiest:
        rows.append([f"endpoint {endpoint}", f"{count:,.0f} requests", "", ""])

    target = settings.maintenance.cache_hit_target
    hits = query.aggregate_by("cache_hits", "sum", yesterday, "cache")
    misses = query.aggregate_by("cache_misses", "sum", yesterday, "cache")
    for cache in sorted(set(hits) | set(misses)):
        total = (hits.get(cache) or 0.0) + (misses.get(cache) or 0.0)
        if not total:
            continue
        rate = (hits.get(cache) or 0.0) / total
        rows.append(
            [f"cache {cache}", f"{rate * 100:.0f}% hits", f"target {target * 100:.0f}%", ""]
        )
        if rate < target:
            advice.append(
                f"Cache {cache} answered {rate * 100:.0f}% of lookups, below the "
                f"{target * 100:.0f}% target: lengthen its TTL or warm its most requested keys."
            )
    if advice and status == "ok":
        status = "warn"
    return Section(
        key="cost",
        title="Cost against the daily budget",
        status=status,
        summary=f"Spent {_fmt(spend, '$')} of the ${budget:,.2f} budget ({share * 100:.0f}%).",
        columns=["Item", "Value", "Share", "Per execution"],
        rows=rows,
        recommendations=advice,
    )


# Security ----------------------------------------------------------------------------------


def security_section(settings: Settings, now: datetime, query: KpiQuery | None = None) -> Section:
    from monitoring.kpi.query import KpiQuery
    from monitoring.maintenance.security import open_writes, rotations_due

    query = query or KpiQuery(settings)
    config = settings.maintenance
    yesterday, baseline = _days(now)
    rows: list[list[str]] = []
    problems: list[str] = []
    warnings: list[str] = []

    failed = query.aggregate("auth_failures", "sum", yesterday) or 0.0
    usual = (query.aggregate("auth_failures", "sum", baseline) or 0.0) / BASELINE_DAYS
    reasons = query.aggregate_by("auth_failures", "sum", yesterday, "reason")
    detail = ", ".join(f"{k or 'unknown'} {v:,.0f}" for k, v in reasons.items() if v)
    rows.append(
        [
            "Failed sign-ins",
            f"{failed:,.0f} (usual {usual:,.1f}/day){': ' + detail if detail else ''}",
        ]
    )
    if failed > max(2 * usual, 10):
        warnings.append(f"{failed:,.0f} failed sign-ins, more than twice the usual")

    refused = query.aggregate_by("auth_refused", "sum", yesterday, "endpoint")
    total_refused = sum(v or 0.0 for v in refused.values())
    top = sorted(((k, v) for k, v in refused.items() if v), key=lambda kv: -kv[1])[:3]
    top_text = ", ".join(f"{k} {v:,.0f}" for k, v in top)
    rows.append(
        ["Requests refused by auth", f"{total_refused:,.0f}{': ' + top_text if top else ''}"]
    )

    rules_path = config.rules_file
    if rules_path.exists():
        exposed = open_writes(rules_path.read_text())
        for item in exposed:
            problems.append(
                f"{rules_path.name}:{item.line} allows {item.operations} on {item.path} "
                f"without sign-in (if {item.condition})"
            )
        rows.append(["Unauthenticated writes in rules", str(len(exposed))])
    else:
        warnings.append(f"{rules_path} not found; rules not checked")

    for due in rotations_due(config.secret_rotation_due, now.date(), config.rotation_warn_days):
        text = (
            f"secret {due.name} is {-due.days_left} day(s) past its rotation date {due.due}"
            if due.days_left < 0
            else f"secret {due.name} must be rotated by {due.due} ({due.days_left} day(s))"
        )
        (problems if due.days_left < 0 else warnings).append(text)
    rows.append(["Secrets tracked for rotation", str(len(config.secret_rotation_due))])

    status = "fail" if problems else "warn" if warnings else "ok"
    findings = problems + warnings
    return Section(
        key="security",
        title="Security",
        status=status,
        summary="; ".join(findings) + "." if findings else "No security finding.",
        columns=["Check", "Result"],
        rows=rows,
        recommendations=[f"Fix: {p}" for p in problems],
    )


def dependency_section(settings: Settings, now: datetime) -> Section:
    from monitoring.maintenance.security import audit_dependencies

    config = settings.maintenance
    result = audit_dependencies(config.requirements_file, config.pip_audit_timeout_s)
    if not result.ran:
        return Section(
            key="dependencies",
            title="Dependency audit",
            status="skipped",
            summary=f"Skipped: {result.reason}.",
        )
    return Section(
        key="dependencies",
        title="Dependency audit",
        status="fail" if result.findings else "ok",
        summary=f"pip-audit found {len(result.findings)} known vulnerabilit"
        f"{'y' if len(result.findings) == 1 else 'ies'}.",
        columns=["Package", "Version", "Advisory", "Fixed in"],
        rows=[list(finding) for finding in result.findings],
        recommendations=[f"Upgrade {p} to {fix}" for p, _, _, fix in result.findings],
    )


# Backups -----------------------------------------------------------------------------------


def backup_section(settings: Settings, now: datetime) -> Section:
    from monitoring.backups.catalog import list_backups
    from monitoring.backups.verify import verify_backup

    backups = list_backups(settings)
    done = [b for b in backups if b.state == "succeeded"]
    if not done:
        return Section(
            key="backups", title="Backups", status="fail", summary="No completed backup exists."
        )
    newest = done[0]
    result = verify_backup(settings, newest.id)
    rows = [
        ["Newest backup", f"{newest.id} ({newest.kind})"],
        ["Documents", f"{newest.documents:,}"],
        ["Verified", "yes" if result.ok else "no"],
    ]
    status = "ok" if result.ok else "fail"
    summary = f"Backup {newest.id} {'verified' if result.ok else 'did not verify'}."
    failed = [b for b in backups[: backups.index(newest)] if b.state == "failed"]
    if failed:
        status = "fail"
        summary += f" The newer backup {failed[0].id} failed: {failed[0].error or 'no reason'}."
    finished = newest.finished_at or newest.started_at
    age = now - finished
    rows.append(["Age", f"{age.total_seconds() / 3600:.1f} h"])
    if age > timedelta(hours=26) and status == "ok":
        status = "warn"
        summary += f" It is {age.total_seconds() / 3600:.0f} h old; the nightly backup is late."
    rows.extend(["Problem", problem] for problem in result.problems[:10])
    return Section(
        key="backups",
        title="Backups",
        status=status,
        summary=summary,
        columns=["Check", "Result"],
        rows=rows,
    )


# Incidents and the status page --------------------------------------------------------------


def incident_section(settings: Settings, now: datetime) -> Section:
    from monitoring.incidents.service import list_incidents, tick
    from monitoring.incidents.status_page import record_daily_uptime

    tick(settings, now)
    yesterday, _ = _days(now)
    uptime = record_daily_uptime(settings, yesterday.start.date(), now)
    open_ = list_incidents(settings, open_only=True)
    recent = list_incidents(settings, since=yesterday.start)
    reviews = [
        i
        for i in list_incidents(settings, since=now - timedelta(days=90))
        if i.review is not None and i.review.status == "scheduled"
    ]
    rows = [[i.id, i.priority, i.status, i.title] for i in open_]
    rows += [
        [i.id, i.priority, "review due", f"{i.review.due_at:%Y-%m-%d}"] for i in reviews if i.review
    ]
    rows += [
        [f"uptime {name}", f"{value * 100:.2f}%", "", ""] for name, value in sorted(uptime.items())
    ]
    overdue = [i.id for i in reviews if i.review and i.review.due_at < now]
    status = "warn" if open_ or overdue else "ok"
    summary = f"{len(open_)} open incident(s), {len(recent)} opened since yesterday"
    summary += f", reviews overdue: {', '.join(overdue)}." if overdue else "."
    return Section(
        key="incidents",
        title="Incidents and status",
        status=status,
        summary=summary,
        columns=["Incident", "Priority", "Status", "Detail"],
        rows=rows,
    )
