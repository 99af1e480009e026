"""The periodic evaluation (Celery beat `monitoring.evaluate`, or `manage.py monitoring_evaluate` from outside the
workers): probe everything, keep the report as the latest snapshot for the metrics endpoint, and turn what it
found into alerts. Also the upkeep that keeps the context's tables small.

Run it from a process that is not a Celery worker too (the command, e.g. from cron or its own container) to have
"no worker at all" alerted: a task cannot report that its own workers are gone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.monitoring.access import alert_recipients
from apps.monitoring.models import DB, Alert, AlertStatus, HealthSnapshot
from apps.monitoring.selectors.health import Component, HealthReport, health_report
from apps.monitoring.services.alerts import AlertChanges, alert_conditions, alerts_apply


@dataclass(frozen=True)
class Evaluation:
    report: HealthReport
    snapshot: HealthSnapshot
    changes: AlertChanges


def snapshot_record(*, report: HealthReport) -> HealthSnapshot:
    with transaction.atomic(using=DB):
        return HealthSnapshot.objects.using(DB).create(
            taken_at=report.checked_at, status=report.status, components=[c.as_dict() for c in report.components]
        )


def monitoring_evaluate(
    *, probes: Mapping[str, Callable[[], Component]] | None = None, now: datetime | None = None
) -> Evaluation:
    report = health_report(probes=probes)
    snapshot = snapshot_record(report=report)
    conditions = alert_conditions(report=report, now=now)
    changes = alerts_apply(conditions=conditions, recipients=alert_recipients(), now=now)
    return Evaluation(report=report, snapshot=snapshot, changes=changes)


def monitoring_prune(*, now: datetime | None = None) -> tuple[int, int]:
    """Drop snapshots older than MONITORING_SNAPSHOT_KEEP_HOURS (the newest always stays) and alerts resolved more
    than MONITORING_ALERT_KEEP_DAYS ago. Returns (snapshots, alerts) deleted."""
    now = now or timezone.now()
    snapshots = HealthSnapshot.objects.using(DB)
    newest = snapshots.order_by("-taken_at").values_list("pk", flat=True).first()
    old = snapshots.filter(taken_at__lt=now - timedelta(hours=settings.MONITORING_SNAPSHOT_KEEP_HOURS))
    pruned_snapshots, _ = (old.exclude(pk=newest) if newest is not None else old).delete()
    pruned_alerts, _ = (
        Alert.objects.using(DB)
        .filter(status=AlertStatus.RESOLVED, resolved_at__lt=now - timedelta(days=settings.MONITORING_ALERT_KEEP_DAYS))
        .delete()
    )
    return pruned_snapshots, pruned_alerts
