"""Reads of alerts and health snapshots."""

from __future__ import annotations

from django.db.models import Case, IntegerField, QuerySet, Value, When

from apps.kernel.errors import NotFoundError
from apps.monitoring.models import DB, Alert, AlertStatus, HealthSnapshot


def alert_list(*, status: str | None = None, rule: str | None = None) -> QuerySet[Alert]:
    """Open alerts first (firing, then acknowledged), newest first within each; resolved ones last."""
    alerts = Alert.objects.using(DB).all()
    if status:
        alerts = alerts.filter(status=status)
    if rule:
        alerts = alerts.filter(rule=rule)
    order = Case(
        When(status=AlertStatus.FIRING, then=Value(0)),
        When(status=AlertStatus.ACKNOWLEDGED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return alerts.order_by(order, "-opened_at", "-id")


def alert_get(*, alert_id: int) -> Alert:
    alert = Alert.objects.using(DB).filter(pk=alert_id).first()
    if alert is None:
        raise NotFoundError(f"No alert {alert_id}.")
    return alert


def snapshot_latest() -> HealthSnapshot | None:
    return HealthSnapshot.objects.using(DB).order_by("-taken_at", "-id").first()
