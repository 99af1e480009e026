"""The auth endpoints of the users context (API_CONTRACT.md "users context"): one APIView per operation."""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from apps.users.api.base import UsersApi, current_user
from apps.users.api.serializers import password_field, user_body
from apps.users.events import ClientInfo
from apps.users.services.accounts import user_register
from apps.users.services.auth import (
    LoginLockedOutError,
    auth_login,
    auth_logout,
    auth_refresh,
    user_password_change,
)


def _lockout_as_throttle(exc: LoginLockedOutError) -> exceptions.Throttled:
    """DRF's Throttled renders as 429 RATE_LIMIT_EXCEEDED with Retry-After through the kernel's handler."""
    return exceptions.Throttled(wait=exc.retry_after, detail=exc.message)


class LoginApi(UsersApi):
    authentication_classes = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = password_field()

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = auth_login(request=request._request, **data.validated_data)
        except LoginLockedOutError as exc:
            raise _lockout_as_throttle(exc) from exc
        return Response(
            {"access": result.tokens.access, "refresh": result.tokens.refresh, "user": user_body(result.user)}
        )


class TokenRefreshApi(UsersApi):
    authentication_classes = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tokens = auth_refresh(refresh=data.validated_data["refresh"])
        return Response({"access": tokens.access, "refresh": tokens.refresh})


class LogoutApi(UsersApi):
    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        auth_logout(
            user=current_user(request),
            refresh=data.validated_data["refresh"],
            client=ClientInfo.of(request._request),
        )
        return Response(status=status.HTTP_205_RESET_CONTENT)


class CurrentUserApi(UsersApi):
    def get(self, request: Request) -> Response:
        return Response(user_body(current_user(request)))


class PasswordChangeApi(UsersApi):
    class InputSerializer(serializers.Serializer):
        current_password = password_field()
        new_password = password_field()

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            tokens = user_password_change(request=request._request, user=current_user(request), **data.validated_data)
        except LoginLockedOutError as exc:
            raise _lockout_as_throttle(exc) from exc
        return Response({"detail": "Password changed.", "access": tokens.access, "refresh": tokens.refresh})


class RegisterApi(UsersApi):
    authentication_classes = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        email = serializers.EmailField()
        password = password_field()
        first_name = serializers.CharField(max_length=150, required=False, default="")
        last_name = serializers.CharField(max_length=150, required=False, default="")

    def post(self, request: Request) -> Response:
        enabled = bool(settings.USERS_SELF_REGISTRATION)
        if not enabled:  # before reading the body: a closed endpoint says nothing about its fields
            raise exceptions.NotFound()
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_register(enabled=enabled, client=ClientInfo.of(request._request), **data.validated_data)
        return Response(user_body(user), status=status.HTTP_201_CREATED)
