"""GET /api/audit-logs/ (API_CONTRACT.md "users context"): the audit log, for callers who may view it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.kernel.errors import ApplicationError
from apps.kernel.pagination import paginated_response
from apps.kernel.timestamps import timestamp
from apps.users.api.base import UsersApi
from apps.users.api.permissions import HasCapability
from apps.users.models import AuditLogEntry
from apps.users.roles import Capability
from apps.users.selectors.audit import audit_entry_list

BIGINT_MAX = 2**63 - 1


class MomentField(serializers.Field):
    """An ISO-8601 date or date-time, read as UTC when it names no offset.

    A bare date stands for the whole day: its first microsecond as a start, its last as an end, so
    `start=2026-01-01&end=2026-01-31` covers all of January.
    """

    default_error_messages = {
        "invalid": "Use an ISO-8601 date or date-time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z "
        "(write a '+' offset as %2B in a URL)."
    }

    def __init__(self, *, day_end: bool, **kwargs: Any) -> None:
        self.day_end = day_end
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> datetime:
        text = str(data).strip()
        try:
            day = date.fromisoformat(text)
        except ValueError:
            pass
        else:
            return datetime.combine(day, time.max if self.day_end else time.min, tzinfo=UTC)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail("invalid")
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


def entries_body(entries: list[AuditLogEntry]) -> list[dict[str, Any]]:
    return [
        {
            "id": entry.pk,
            "event_id": str(entry.event_id),
            "occurred_at": timestamp(entry.occurred_at),
            "recorded_at": timestamp(entry.recorded_at),
            "source": entry.source,
            "actor_id": entry.actor_id,
            "action": entry.action,
            "resource_type": entry.resource_type,
            "resource_id": entry.resource_id,
            "ip": entry.ip,
            "user_agent": entry.user_agent,
            "request_id": entry.request_id,
            "details": entry.details,
        }
        for entry in entries
    ]


class AuditLogListApi(UsersApi):
    permission_classes = [HasCapability.of(Capability.VIEW_AUDIT_LOG)]

    class FilterSerializer(serializers.Serializer):
        user = serializers.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX)
        action = serializers.CharField(required=False, max_length=64)
        resource_type = serializers.CharField(required=False, max_length=64)
        resource_id = serializers.CharField(required=False, max_length=64)
        start = MomentField(required=False, day_end=False)
        end = MomentField(required=False, day_end=True)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if "start" in attrs and "end" in attrs and attrs["start"] > attrs["end"]:
                raise serializers.ValidationError({"end": ["The end must not be before the start."]})
            return attrs

    def get(self, request: Request) -> Response:
        # an empty parameter (what a cleared form field sends) filters nothing
        given = {
            name: value for name, value in request.query_params.items() if isinstance(value, str) and value.strip()
        }
        filters = self.FilterSerializer(data=given)
        if not filters.is_valid():
            names = ", ".join(sorted(filters.errors))
            raise ApplicationError(f"Invalid query parameter: {names}.", details=filters.errors)
        return paginated_response(
            items=audit_entry_list(**filters.validated_data),
            render=entries_body,
            request=request,
            view=self,
        )
