"""Alert rules, their evaluation into deduplicated alerts, admins' notices, and acknowledging or resolving by hand.

Rules (thresholds in settings, `# --- monitoring` in config/settings/base.py; compose/prometheus/alerts.yml mirrors
them for Prometheus), each with the subject its alerts are deduplicated by:

- service_down (per service): an active service has been unhealthy or timing out for
  MONITORING_ALERT_SERVICE_DOWN_MINUTES.
- job_failure_rate (per service): more than MONITORING_ALERT_FAILURE_RATE % of the service's jobs that finished in
  the last MONITORING_ALERT_FAILURE_WINDOW_MINUTES failed, with at least MONITORING_ALERT_FAILURE_MIN_JOBS finished.
- event_backlog (per outbox or consumer, and dead letters): more than MONITORING_EVENT_BACKLOG_MAX events behind, an
  outbox's oldest event older than MONITORING_EVENT_BACKLOG_AGE_SECONDS, or events parked as dead letters.
- worker_missing (per queue): no Celery worker consumes one of MONITORING_WORKER_QUEUES.

An evaluation turns the conditions it sees into alerts: a new fingerprint opens an alert (and one `notification.send`
to the operators), a known one only refreshes its open alert, and an open alert whose condition is gone is resolved
automatically (with a notice). A rule the evaluation could not judge (its measurements failed) leaves its alerts
as they are. Resolving by hand while the condition persists makes the next evaluation open a new alert:
acknowledging is the way to say "known, being handled".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.kernel.errors import ConflictError, NotFoundError
from apps.kernel.outbox import outbox_record
from apps.monitoring.access import service_still_active
from apps.monitoring.models import (
    DB,
    OPEN_ALERT_STATUSES,
    SERVICE_DOWN_STATUSES,
    Alert,
    AlertRule,
    AlertStatus,
    OutboxEvent,
    ServiceState,
    Severity,
)
from apps.monitoring.selectors.health import HealthReport
from apps.monitoring.selectors.jobs import failures_by_service, service_labels
from apps.notifications.public import NOTIFICATION_SEND, NotificationType, Priority, notification_send_payload

PRIORITY = {Severity.WARNING: Priority.HIGH, Severity.CRITICAL: Priority.URGENT}


@dataclass(frozen=True)
class Condition:
    """One rule found true for one subject in this evaluation."""

    rule: str
    subject: str
    severity: str
    title: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return f"{self.rule}:{self.subject}"


@dataclass(frozen=True)
class Conditions:
    found: list[Condition]
    judged: frozenset[str]  # the rules this evaluation could decide


def _services_down(now: datetime) -> list[Condition]:
    minutes = int(settings.MONITORING_ALERT_SERVICE_DOWN_MINUTES)
    since = now - timedelta(minutes=minutes)
    down = ServiceState.objects.using(DB).filter(status__in=SERVICE_DOWN_STATUSES, down_since__lte=since)
    found = []
    for state in down.order_by("service_id"):
        if not service_still_active(state.service_id):
            continue
        label = state.name or state.slug or f"Service {state.service_id}"
        found.append(
            Condition(
                AlertRule.SERVICE_DOWN,
                f"service:{state.service_id}",
                Severity.WARNING,
                f"{label} has been down for over {minutes} min",
                f"{label} has answered health checks with {state.status} since "
                f"{state.down_since:%Y-%m-%d %H:%M} UTC. {state.message}".strip(),
                {"service_id": state.service_id, "slug": state.slug, "status": state.status},
            )
        )
    return found


def _failure_rates(now: datetime) -> list[Condition]:
    window = int(settings.MONITORING_ALERT_FAILURE_WINDOW_MINUTES)
    limit, least = float(settings.MONITORING_ALERT_FAILURE_RATE), int(settings.MONITORING_ALERT_FAILURE_MIN_JOBS)
    labels = service_labels()
    found = []
    for row in failures_by_service(since=now - timedelta(minutes=window), until=now):
        if row.finished < least or row.rate * 100 <= limit:
            continue
        label = labels.get(row.service_id) or f"service {row.service_id}"
        found.append(
            Condition(
                AlertRule.JOB_FAILURE_RATE,
                f"service:{row.service_id}",
                Severity.WARNING,
                f"{row.rate:.0%} of jobs on {label} failed in the last {window} min",
                f"{row.failed} of {row.finished} jobs that finished on {label} failed (limit {limit:g}%).",
                {
                    "service_id": row.service_id,
                    "failed": row.failed,
                    "finished": row.finished,
                    "window_minutes": window,
                },
            )
        )
    return found


def _event_backlogs(data: dict[str, Any]) -> list[Condition]:
    limit, age = int(settings.MONITORING_EVENT_BACKLOG_MAX), float(settings.MONITORING_EVENT_BACKLOG_AGE_SECONDS)
    found = []
    for context, o in sorted(data.get("outboxes", {}).items()):
        pending, oldest = o.get("pending"), o.get("oldest_seconds") or 0
        if pending is not None and (pending > limit or oldest > age):
            found.append(
                Condition(
                    AlertRule.EVENT_BACKLOG,
                    f"outbox:{context}",
                    Severity.WARNING,
                    f"Events of {context} are not being published",
                    f"{pending} event(s) wait in the {context} outbox, the oldest for {oldest:.0f}s: "
                    "is the relay running?",
                    {"context": context, "pending": pending, "oldest_seconds": oldest},
                )
            )
    for name, c in sorted(data.get("consumers", {}).items()):
        behind = (c.get("pending") or 0) + (c.get("lag") or 0)
        if behind > limit:
            found.append(
                Condition(
                    AlertRule.EVENT_BACKLOG,
                    f"consumer:{name}",
                    Severity.WARNING,
                    f"Consumer {name} is falling behind",
                    f"{behind} event(s) wait for {name}: are the consumers running?",
                    {"consumer": name, "pending": c.get("pending"), "lag": c.get("lag")},
                )
            )
    if data.get("dead_letters"):
        found.append(
            Condition(
                AlertRule.EVENT_BACKLOG,
                "dead_letters",
                Severity.WARNING,
                "Events are parked in the dead-letter stream",
                f"{data['dead_letters']} event(s) could not be applied: manage.py events_deadletters list.",
                {"dead_letters": data["dead_letters"]},
            )
        )
    return found


def _workers_missing(data: dict[str, Any]) -> list[Condition]:
    return [
        Condition(
            AlertRule.WORKER_MISSING,
            f"queue:{queue}",
            Severity.CRITICAL,
            f"No Celery worker consumes the {queue} queue",
            f"Tasks sent to {queue} wait until a worker serves it. Workers answering: "
            f"{', '.join(data.get('workers') or []) or 'none'}.",
            {"queue": queue, "workers": data.get("workers") or []},
        )
        for queue in data.get("unserved") or []
    ]


def alert_conditions(*, report: HealthReport, now: datetime | None = None) -> Conditions:
    """What holds now, by rule; event and worker rules are judged only when their measurements succeeded."""
    now = now or timezone.now()
    found = _services_down(now) + _failure_rates(now)
    judged = {AlertRule.SERVICE_DOWN, AlertRule.JOB_FAILURE_RATE}
    events = report.component("events")
    if events is not None and "outboxes" in events.data:
        found += _event_backlogs(events.data)
        judged.add(AlertRule.EVENT_BACKLOG)
    workers = report.component("workers")
    if workers is not None and "unserved" in workers.data:
        found += _workers_missing(workers.data)
        judged.add(AlertRule.WORKER_MISSING)
    return Conditions(found=found, judged=frozenset(str(rule) for rule in judged))


@dataclass(frozen=True)
class AlertChanges:
    opened: list[Alert]
    resolved: list[Alert]
    notified: list[Alert]


def _notify(alert: Alert, recipients: list[int], *, resolved: bool = False) -> None:
    """A `notification.send` in this context's outbox, in the caller's transaction."""
    if resolved:
        title, priority = f"Resolved: {alert.title}", Priority.NORMAL
        message = f"The condition cleared at {alert.resolved_at:%Y-%m-%d %H:%M} UTC."
    else:
        title, priority = alert.title, PRIORITY[Severity(alert.severity)]
        message = alert.message
    payload = notification_send_payload(
        user_ids=recipients,
        type=NotificationType.SYSTEM,
        title=title[:200],
        message=message,
        data={
            "alert_id": alert.pk,
            "rule": alert.rule,
            "fingerprint": alert.fingerprint,
            "severity": alert.severity,
            "status": alert.status,
        },
        priority=priority,
    )
    outbox_record(outbox=OutboxEvent, topic=NOTIFICATION_SEND, aggregate_id=f"alert-{alert.pk}", payload=payload)


def alerts_apply(*, conditions: Conditions, recipients: list[int] | None, now: datetime | None = None) -> AlertChanges:
    """Open, refresh and resolve alerts to match `conditions`, and notify `recipients` (None: not now) of every
    open alert not yet notified and of automatic resolutions; one transaction on the monitoring database."""
    now = now or timezone.now()
    opened, resolved, notified = [], [], []
    with transaction.atomic(using=DB):
        open_alerts = {
            a.fingerprint: a for a in Alert.objects.using(DB).select_for_update().filter(status__in=OPEN_ALERT_STATUSES)
        }
        seen = set()
        for c in conditions.found:
            seen.add(c.fingerprint)
            alert = open_alerts.get(c.fingerprint)
            if alert is None:
                alert = Alert.objects.using(DB).create(
                    rule=c.rule,
                    fingerprint=c.fingerprint,
                    severity=c.severity,
                    title=c.title[:200],
                    message=c.message,
                    details=c.details,
                    opened_at=now,
                    last_seen_at=now,
                )
                opened.append(alert)
                open_alerts[c.fingerprint] = alert
                continue
            alert.severity, alert.title, alert.message, alert.details = c.severity, c.title[:200], c.message, c.details
            alert.last_seen_at = now
            alert.save(using=DB, update_fields=["severity", "title", "message", "details", "last_seen_at"])
        for fingerprint, alert in open_alerts.items():
            if fingerprint in seen or alert.rule not in conditions.judged:
                continue
            alert.status, alert.resolved_at, alert.resolved_by = AlertStatus.RESOLVED, now, None
            alert.save(using=DB, update_fields=["status", "resolved_at", "resolved_by"])
            resolved.append(alert)
            if recipients and alert.notified_at is not None:
                _notify(alert, recipients, resolved=True)
        if recipients:
            for alert in open_alerts.values():
                if alert.status == AlertStatus.FIRING and alert.notified_at is None:
                    _notify(alert, recipients)
                    alert.notified_at = now
                    alert.save(using=DB, update_fields=["notified_at"])
                    notified.append(alert)
    return AlertChanges(opened=opened, resolved=resolved, notified=notified)


def _alert_locked(alert_id: int) -> Alert:
    alert = Alert.objects.using(DB).select_for_update().filter(pk=alert_id).first()
    if alert is None:
        raise NotFoundError(f"No alert {alert_id}.")
    return alert


def alert_acknowledge(*, alert_id: int, user_id: int, now: datetime | None = None) -> Alert:
    """Firing -> acknowledged (idempotent); a resolved alert cannot be acknowledged (409)."""
    with transaction.atomic(using=DB):
        alert = _alert_locked(alert_id)
        if alert.status == AlertStatus.RESOLVED:
            raise ConflictError("This alert is already resolved.", details={"status": alert.status})
        if alert.status == AlertStatus.FIRING:
            alert.status, alert.acknowledged_at, alert.acknowledged_by = (
                AlertStatus.ACKNOWLEDGED,
                now or timezone.now(),
                user_id,
            )
            alert.save(using=DB, update_fields=["status", "acknowledged_at", "acknowledged_by"])
    return alert


def alert_resolve(*, alert_id: int, user_id: int, now: datetime | None = None) -> Alert:
    """Firing or acknowledged -> resolved by this user (idempotent: resolving a resolved alert changes nothing)."""
    with transaction.atomic(using=DB):
        alert = _alert_locked(alert_id)
        if alert.status != AlertStatus.RESOLVED:
            alert.status, alert.resolved_at, alert.resolved_by = AlertStatus.RESOLVED, now or timezone.now(), user_id
            alert.save(using=DB, update_fields=["status", "resolved_at", "resolved_by"])
    return alert
