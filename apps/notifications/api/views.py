"""The notifications API (API_CONTRACT.md "notifications context"): the caller's in-app notifications, unread
count, marking read, and their preferences. Every endpoint is about the caller only: another user's
notification is a 404, as if it did not exist."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.kernel.pagination import paginated_response
from apps.kernel.timestamps import timestamp
from apps.notifications.messages import notification_body
from apps.notifications.models import Digest, NotificationPreference, default_channels
from apps.notifications.selectors.notifications import notification_list, preference_get, unread_count
from apps.notifications.services.notifications import notification_mark_read, notifications_mark_all_read
from apps.notifications.services.preferences import preference_update

CLOCK = "%H:%M"


def _caller_id(request: Request) -> int:
    return int(str(request.user.pk))  # a Principal: the access token's user id


def preference_body(preference: NotificationPreference) -> dict[str, Any]:
    channels = default_channels()
    for kind, switches in channels.items():
        switches.update(preference.channels.get(kind, {}))
    start, end = preference.quiet_hours_start, preference.quiet_hours_end
    quiet = None if start is None or end is None else {"start": start.strftime(CLOCK), "end": end.strftime(CLOCK)}
    return {
        "channels": channels,
        "digest": preference.digest,
        "quiet_hours": quiet,
        "updated_at": timestamp(preference.updated_at),
    }


class NotificationListApi(APIView):
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("unread")
        if raw not in (None, "", "true", "false"):
            raise serializers.ValidationError({"unread": ["unread must be true or false."]})
        unread = None if raw in (None, "") else raw == "true"
        items = notification_list(user_id=_caller_id(request), unread=unread)
        return paginated_response(
            items=items, render=lambda page: [notification_body(n) for n in page], request=request, view=self
        )


class NotificationReadApi(APIView):
    def post(self, request: Request, notification_id: int) -> Response:
        notification = notification_mark_read(user_id=_caller_id(request), notification_id=notification_id)
        return Response(notification_body(notification))


class NotificationReadAllApi(APIView):
    def post(self, request: Request) -> Response:
        return Response({"marked": notifications_mark_all_read(user_id=_caller_id(request))})


class UnreadCountApi(APIView):
    def get(self, request: Request) -> Response:
        return Response({"unread_count": unread_count(user_id=_caller_id(request))})


class ChannelSwitchesSerializer(serializers.Serializer):
    web = serializers.BooleanField(required=False)
    email = serializers.BooleanField(required=False)


class ChannelsSerializer(serializers.Serializer):
    job_update = ChannelSwitchesSerializer(required=False)
    service_alert = ChannelSwitchesSerializer(required=False)
    security = ChannelSwitchesSerializer(required=False)
    system = ChannelSwitchesSerializer(required=False)


class QuietHoursSerializer(serializers.Serializer):
    """Wall-clock times in the user's profile time zone; the window may wrap midnight (22:00 to 07:00)."""

    start = serializers.TimeField(format=CLOCK, input_formats=[CLOCK])
    end = serializers.TimeField(format=CLOCK, input_formats=[CLOCK])

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["start"] == attrs["end"]:
            raise serializers.ValidationError("start and end must differ; send null to turn quiet hours off.")
        return attrs


class PreferenceInputSerializer(serializers.Serializer):
    channels = ChannelsSerializer(required=False)
    digest = serializers.ChoiceField(choices=Digest.choices, required=False)
    quiet_hours = QuietHoursSerializer(required=False, allow_null=True)

    def changes(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        if "quiet_hours" in data:
            window = data["quiet_hours"]
            data["quiet_hours"] = None if window is None else (window["start"], window["end"])
        return data


class PreferenceApi(APIView):
    def get(self, request: Request) -> Response:
        return Response(preference_body(preference_get(user_id=_caller_id(request))))

    def patch(self, request: Request) -> Response:
        data = PreferenceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        preference = preference_update(user_id=_caller_id(request), changes=data.changes())
        return Response(preference_body(preference))
