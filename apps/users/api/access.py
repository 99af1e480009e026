"""Per-service permissions (/api/permissions/) and groups (/api/groups/).

Anyone signed in may list: they see their own grants and groups, and everything on the services they manage.
Changes need a manager of the service (apps/users/services/access.py); someone else's grant answers 404.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.kernel.errors import NotFoundError
from apps.kernel.pagination import paginated_response
from apps.kernel.timestamps import timestamp
from apps.users.api.base import UsersApi, current_user
from apps.users.events import ClientInfo
from apps.users.models import ServiceGroup, ServicePermission, ServicePermissionGrant
from apps.users.selectors.access import grant_list, group_list
from apps.users.services import access

ID_MAX = 2**63 - 1  # the largest id the databases store (a signed 64-bit integer)


def _id_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()):  # str.isdigit alone accepts digits int() refuses, such as "²"
        raise serializers.ValidationError({name: [f"{name} must be a numeric id."]})
    return int(raw)


def grants_body(grants: list[ServicePermissionGrant]) -> list[dict[str, Any]]:
    now = timezone.now()
    return [
        {
            "id": grant.pk,
            "user_id": grant.user_id,
            "username": grant.user.username,
            "service_id": grant.service_id,
            "permission": grant.permission,
            "expires_at": timestamp(grant.expires_at),
            "is_expired": grant.expires_at is not None and grant.expires_at <= now,
            "granted_by_id": grant.granted_by_id,
            "granted_at": timestamp(grant.granted_at),
        }
        for grant in grants
    ]


def groups_body(groups: list[ServiceGroup]) -> list[dict[str, Any]]:
    return [
        {
            "id": group.pk,
            "name": group.name,
            "service_id": group.service_id,
            "description": group.description,
            "permissions": group.permissions,
            "members": [
                {"user_id": member.user_id, "username": member.user.username, "added_at": timestamp(member.added_at)}
                for member in sorted(group.memberships.all(), key=lambda member: member.user_id)
            ],
            "created_at": timestamp(group.created_at),
        }
        for group in groups
    ]


class PermissionListApi(UsersApi):
    class InputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField(min_value=1, max_value=ID_MAX)
        service_id = serializers.IntegerField(min_value=1, max_value=ID_MAX)
        permission = serializers.ChoiceField(choices=ServicePermission.choices)
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def get(self, request: Request) -> Response:
        grants = grant_list(
            actor=current_user(request), service_id=_id_param(request, "service"), user_id=_id_param(request, "user")
        )
        return paginated_response(items=grants, render=grants_body, request=request, view=self)

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        grant = access.grant_create(
            actor=current_user(request), client=ClientInfo.of(request._request), **data.validated_data
        )
        return Response(grants_body([grant])[0], status=status.HTTP_201_CREATED)


class PermissionDetailApi(UsersApi):
    class InputSerializer(serializers.Serializer):
        expires_at = serializers.DateTimeField(allow_null=True)

    def get(self, request: Request, grant_id: int) -> Response:
        grant = grant_list(actor=current_user(request)).filter(pk=grant_id).first()
        if grant is None:
            raise NotFoundError("Not found.")
        return Response(grants_body([grant])[0])

    def patch(self, request: Request, grant_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        grant = access.grant_update(
            actor=current_user(request),
            grant_id=grant_id,
            expires_at=data.validated_data["expires_at"],
            client=ClientInfo.of(request._request),
        )
        return Response(grants_body([grant])[0])

    def delete(self, request: Request, grant_id: int) -> Response:
        access.grant_delete(actor=current_user(request), grant_id=grant_id, client=ClientInfo.of(request._request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _group_body(request: Request, group_id: int) -> dict[str, Any]:
    group = group_list(actor=current_user(request)).filter(pk=group_id).first()
    if group is None:
        raise NotFoundError("Not found.")
    return groups_body([group])[0]


class GroupListApi(UsersApi):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=150)
        service_id = serializers.IntegerField(min_value=1, max_value=ID_MAX)
        description = serializers.CharField(allow_blank=True, required=False, default="")
        permissions = serializers.ListField(child=serializers.CharField(max_length=32), max_length=10)

    def get(self, request: Request) -> Response:
        groups = group_list(actor=current_user(request), service_id=_id_param(request, "service"))
        return paginated_response(items=groups, render=groups_body, request=request, view=self)

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        group = access.group_create(
            actor=current_user(request), client=ClientInfo.of(request._request), **data.validated_data
        )
        return Response(_group_body(request, group.pk), status=status.HTTP_201_CREATED)


class GroupDetailApi(UsersApi):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=150, required=False)
        description = serializers.CharField(allow_blank=True, required=False)
        permissions = serializers.ListField(child=serializers.CharField(max_length=32), max_length=10, required=False)

    def get(self, request: Request, group_id: int) -> Response:
        return Response(_group_body(request, group_id))

    def patch(self, request: Request, group_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        access.group_update(
            actor=current_user(request),
            group_id=group_id,
            client=ClientInfo.of(request._request),
            **data.validated_data,
        )
        return Response(_group_body(request, group_id))

    def delete(self, request: Request, group_id: int) -> Response:
        access.group_delete(actor=current_user(request), group_id=group_id, client=ClientInfo.of(request._request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupMembersApi(UsersApi):
    class InputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField(min_value=1, max_value=ID_MAX)

    def post(self, request: Request, group_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        access.group_member_add(
            actor=current_user(request),
            group_id=group_id,
            user_id=data.validated_data["user_id"],
            client=ClientInfo.of(request._request),
        )
        return Response(_group_body(request, group_id), status=status.HTTP_201_CREATED)


class GroupMemberDetailApi(UsersApi):
    def delete(self, request: Request, group_id: int, user_id: int) -> Response:
        access.group_member_remove(
            actor=current_user(request), group_id=group_id, user_id=user_id, client=ClientInfo.of(request._request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
