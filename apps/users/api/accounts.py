"""User management (/api/users/), roles (/api/roles/) and one's own profile (/api/profiles/me/)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.kernel.errors import NotFoundError
from apps.kernel.pagination import paginated_response
from apps.users.access import ROLE_BASE, ROLE_CEILING
from apps.users.api.base import UsersApi, current_user
from apps.users.api.permissions import HasCapability
from apps.users.api.serializers import (
    ProfileOutputSerializer,
    managed_user_body,
    managed_users_body,
    password_field,
)
from apps.users.events import ClientInfo
from apps.users.models import DB, Profile, Role, User
from apps.users.roles import ROLE_CAPABILITIES, Capability
from apps.users.selectors.accounts import user_profile_get
from apps.users.services import accounts


def _user_get(user_id: int) -> User:
    user = User.objects.using(DB).select_related("profile").filter(pk=user_id).first()
    if user is None:
        raise NotFoundError("Not found.")
    return user


class ProfileInputSerializer(serializers.Serializer):
    organization = serializers.CharField(max_length=200, allow_blank=True, required=False)
    institution = serializers.CharField(max_length=200, allow_blank=True, required=False)
    country = serializers.CharField(max_length=2, allow_blank=True, required=False)
    timezone = serializers.CharField(max_length=64, required=False)
    email_notifications = serializers.BooleanField(required=False)


class UserListApi(UsersApi):
    permission_classes = [HasCapability.of(Capability.MANAGE_USERS)]

    class CreateSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        email = serializers.EmailField()
        password = password_field()
        first_name = serializers.CharField(max_length=150, required=False, default="")
        last_name = serializers.CharField(max_length=150, required=False, default="")
        role = serializers.ChoiceField(choices=Role.choices)

    def get(self, request: Request) -> Response:
        users = User.objects.using(DB).select_related("profile").order_by("username")
        if role := request.query_params.get("role"):
            users = users.filter(role=role)
        if (active := request.query_params.get("is_active")) in ("true", "false"):
            users = users.filter(is_active=active == "true")
        if search := request.query_params.get("search", "").strip():
            users = users.filter(
                Q(username__icontains=search)
                | Q(email__icontains=search)
                | Q(first_name__icontains=search)
                | Q(last_name__icontains=search)
            )
        return paginated_response(items=users, render=managed_users_body, request=request, view=self)

    def post(self, request: Request) -> Response:
        data = self.CreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = accounts.user_admin_create(
            actor=current_user(request), client=ClientInfo.of(request._request), **data.validated_data
        )
        return Response(managed_user_body(user), status=status.HTTP_201_CREATED)


class UserDetailApi(UsersApi):
    permission_classes = [HasCapability.of(Capability.MANAGE_USERS)]

    class ProfileSerializer(ProfileInputSerializer):
        monthly_job_quota = serializers.IntegerField(min_value=0, required=False)
        storage_quota_bytes = serializers.IntegerField(min_value=0, required=False)

    class UpdateSerializer(serializers.Serializer):
        email = serializers.EmailField(required=False)
        first_name = serializers.CharField(max_length=150, allow_blank=True, required=False)
        last_name = serializers.CharField(max_length=150, allow_blank=True, required=False)
        role = serializers.ChoiceField(choices=Role.choices, required=False)

    def get(self, request: Request, user_id: int) -> Response:
        return Response(managed_user_body(_user_get(user_id)))

    def patch(self, request: Request, user_id: int) -> Response:
        data = self.UpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = self.ProfileSerializer(data=request.data.get("profile") or {})
        profile.is_valid(raise_exception=True)
        accounts.user_update(
            actor=current_user(request),
            user_id=user_id,
            fields=dict(data.validated_data),
            profile=dict(profile.validated_data),
            client=ClientInfo.of(request._request),
        )
        return Response(managed_user_body(_user_get(user_id)))

    def delete(self, request: Request, user_id: int) -> Response:
        accounts.user_delete(actor=current_user(request), user_id=user_id, client=ClientInfo.of(request._request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserPasswordResetApi(UsersApi):
    permission_classes = [HasCapability.of(Capability.MANAGE_USERS)]

    class InputSerializer(serializers.Serializer):
        new_password = password_field()

    def post(self, request: Request, user_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        accounts.user_password_reset(
            actor=current_user(request),
            user_id=user_id,
            new_password=data.validated_data["new_password"],
            client=ClientInfo.of(request._request),
        )
        return Response({"detail": "Password reset; the user's sessions have ended."})


class UserActiveToggleApi(UsersApi):
    permission_classes = [HasCapability.of(Capability.MANAGE_USERS)]

    def post(self, request: Request, user_id: int) -> Response:
        user = accounts.user_active_toggle(
            actor=current_user(request), user_id=user_id, client=ClientInfo.of(request._request)
        )
        return Response(managed_user_body(_user_get(user.pk)))


def _roles_body(roles: list[Role]) -> list[dict[str, Any]]:
    return [
        {
            "name": role.value,
            "label": role.label,
            "capabilities": sorted(ROLE_CAPABILITIES[role]),
            "service_permissions": sorted(ROLE_BASE[role]),
            "grantable_service_permissions": sorted(ROLE_CEILING[role]),
        }
        for role in roles
    ]


class RoleListApi(UsersApi):
    """The roles and what each may do, so the UI can explain a role before anyone is given it."""

    def get(self, request: Request) -> Response:
        return paginated_response(items=list(Role), render=_roles_body, request=request, view=self)


class ProfileMeApi(UsersApi):
    class InputSerializer(ProfileInputSerializer):
        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            """Quotas and unknown names are refused by name rather than silently ignored."""
            refused = sorted(set(self.initial_data) - set(self.fields))
            if refused:
                raise serializers.ValidationError({name: ["This field cannot be changed here."] for name in refused})
            return attrs

    def get(self, request: Request) -> Response:
        return Response(ProfileOutputSerializer(user_profile_get(user=current_user(request))).data)

    def patch(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile: Profile = accounts.profile_update(
            user=current_user(request), changes=dict(data.validated_data), client=ClientInfo.of(request._request)
        )
        return Response(ProfileOutputSerializer(profile).data)
