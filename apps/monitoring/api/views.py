"""The monitoring API (API_CONTRACT.md "monitoring context"): platform health, the caller's dashboard, the operators'
analytics and alerts.

Health is open: anonymous callers get the verdict only, signed-in callers each component's status, operators (the
`view_all_jobs` capability: admins, service admins) the details and figures too; 503 whenever it is critical, so a
load balancer or uptime checker can use it as is. Analytics and alerts are for operators.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework import serializers
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.kernel.errors import ServiceUnavailableError
from apps.kernel.pagination import paginated_response
from apps.kernel.timestamps import timestamp
from apps.monitoring.access import SUBMIT_CAPABILITY, caller_info, operator_is
from apps.monitoring.models import Alert, AlertRule, AlertStatus, JobFact
from apps.monitoring.selectors.alerts import alert_get, alert_list
from apps.monitoring.selectors.health import CRITICAL, HealthReport, health_report_recent
from apps.monitoring.selectors.jobs import (
    Window,
    analytics_report,
    dashboard_jobs,
    service_counts,
    service_labels,
    window_of,
)
from apps.monitoring.services.alerts import alert_acknowledge, alert_resolve
from apps.users.public import UsersError

ANALYTICS_MAX_DAYS = 366


def _caller_id(request: Request) -> int | None:
    user = request.user
    return int(str(user.pk)) if user and user.is_authenticated else None


def _operator(request: Request) -> bool:
    caller = _caller_id(request)
    if caller is None:
        return False
    try:
        return operator_is(caller)
    except UsersError as exc:
        raise ServiceUnavailableError("The users context cannot say what you may see; try again shortly.") from exc


class IsOperator(BasePermission):
    message = "This needs the 'view_all_jobs' capability (admins and service admins)."

    def has_permission(self, request: Request, view: Any) -> bool:
        return _operator(request)


# --- health ------------------------------------------------------------------------------------------------------


def health_body(report: HealthReport, *, components: bool, details: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"status": report.status, "checked_at": timestamp(report.checked_at)}
    if components:
        body["components"] = [
            c.as_dict() if details else {"name": c.name, "status": c.status, "impact": c.impact}
            for c in report.components
        ]
    return body


class HealthApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        report = health_report_recent()
        caller = _caller_id(request)
        try:
            details = caller is not None and operator_is(caller)
        except UsersError:
            details = False  # the users context is down: the health report must still answer, without details
        body = health_body(report, components=caller is not None, details=details)
        return Response(body, status=503 if report.status == CRITICAL else 200)


# --- dashboard and analytics -------------------------------------------------------------------------------------


def recent_job_body(job: JobFact, labels: dict[int, str]) -> dict[str, Any]:
    return {
        "id": str(job.job_id),
        "name": job.name,
        "status": job.status,
        "stage": job.stage,
        "progress": job.progress,
        "service_id": job.service_id,
        "service": None if job.service_id is None else labels.get(job.service_id, str(job.service_id)),
        "parent_id": str(job.parent_id) if job.parent_id else None,
        "failure_category": job.failure_category or None,
        "created_at": timestamp(job.created_at),
        "started_at": timestamp(job.started_at),
        "completed_at": timestamp(job.completed_at),
    }


class DashboardStatsApi(APIView):
    def get(self, request: Request) -> Response:
        caller = _caller_id(request)
        assert caller is not None  # IsAuthenticated (the default permission) let it through
        jobs = dashboard_jobs(user_id=caller)
        services = service_counts()
        try:
            info = caller_info(caller)
            accessible: int | None = services.available if info is not None and info.can(SUBMIT_CAPABILITY) else 0
        except UsersError:
            accessible = None  # the users context is unreachable: say "unknown" rather than fail the dashboard
        labels = service_labels()
        return Response(
            {
                "jobs": {
                    "total": jobs.total,
                    "active": jobs.active,
                    "by_status": jobs.by_status,
                    "success_rate": jobs.success_rate,
                },
                "recent_jobs": [recent_job_body(job, labels) for job in jobs.recent],
                "services": {
                    "known": services.known,
                    "available": services.available,
                    "accessible": accessible,
                },
            }
        )


class AnalyticsQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=ANALYTICS_MAX_DAYS, required=False, default=30)
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        window = window_of(days=attrs["days"], end=attrs.get("end"))  # `days` up to `end` (today by default)
        if attrs.get("start"):
            window = Window(start=attrs["start"], end=window.end)
        if window.end < window.start:
            raise serializers.ValidationError({"end": ["end must not be before start."]})
        if window.days > ANALYTICS_MAX_DAYS:
            raise serializers.ValidationError({"start": [f"The window may span at most {ANALYTICS_MAX_DAYS} days."]})
        attrs["window"] = window
        return attrs


class AnalyticsApi(APIView):
    permission_classes = [IsOperator]

    def get(self, request: Request) -> Response:
        query = AnalyticsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(analytics_report(window=query.validated_data["window"]))


# --- alerts ------------------------------------------------------------------------------------------------------


def alert_body(alert: Alert) -> dict[str, Any]:
    resolution = None
    if alert.status == AlertStatus.RESOLVED:
        resolution = "automatic" if alert.resolved_by is None else "manual"
    return {
        "id": alert.pk,
        "rule": alert.rule,
        "fingerprint": alert.fingerprint,
        "severity": alert.severity,
        "status": alert.status,
        "title": alert.title,
        "message": alert.message,
        "details": alert.details,
        "opened_at": timestamp(alert.opened_at),
        "last_seen_at": timestamp(alert.last_seen_at),
        "notified_at": timestamp(alert.notified_at),
        "acknowledged_at": timestamp(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "resolved_at": timestamp(alert.resolved_at),
        "resolved_by": alert.resolved_by,
        "resolution": resolution,
    }


class AlertQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AlertStatus.choices, required=False)
    rule = serializers.ChoiceField(choices=AlertRule.choices, required=False)


class AlertListApi(APIView):
    permission_classes = [IsOperator]

    def get(self, request: Request) -> Response:
        query = AlertQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        alerts = alert_list(status=query.validated_data.get("status"), rule=query.validated_data.get("rule"))
        return paginated_response(
            items=alerts, render=lambda page: [alert_body(a) for a in page], request=request, view=self
        )


class AlertDetailApi(APIView):
    permission_classes = [IsOperator]

    def get(self, request: Request, alert_id: int) -> Response:
        return Response(alert_body(alert_get(alert_id=alert_id)))


class AlertChangeApi(APIView):
    """POST that moves an alert on (acknowledge, resolve) as the calling operator."""

    permission_classes = [IsOperator]
    change: Callable[..., Alert]

    def post(self, request: Request, alert_id: int) -> Response:
        caller = _caller_id(request)
        assert caller is not None  # IsOperator let it through
        return Response(alert_body(type(self).change(alert_id=alert_id, user_id=caller)))


class AlertAcknowledgeApi(AlertChangeApi):
    change = staticmethod(alert_acknowledge)


class AlertResolveApi(AlertChangeApi):
    change = staticmethod(alert_resolve)
