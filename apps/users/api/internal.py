"""The users context's public interface over HTTP, for other deployables (apps/users/remote.py calls these).

Mounted under /internal/users/ on the users deployable only; the gateway routes no /internal/ prefix, so these
are never reachable from outside, and each call must carry an internal service token addressed to `users`.
A decrypted token goes only to the deployables in USERS_TOKEN_READERS (the jobs context, or the monolith
hosting it).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.conf import settings
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.kernel.errors import ApplicationError
from apps.kernel.internal_auth import InternalCaller, InternalServiceAuthentication
from apps.users import public
from apps.users.impl import LocalUsersService


class InternalError(ApplicationError):
    """A public error of the users interface, named by a code the remote implementation maps back."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


ERRORS: dict[type[public.UsersError], tuple[int, str]] = {
    public.UserNotFoundError: (404, "USER_NOT_FOUND"),
    public.CredentialMissingError: (404, "CREDENTIAL_MISSING"),
    public.CredentialExpiredError: (409, "CREDENTIAL_EXPIRED"),
}


def user_info_body(info: public.UserInfo) -> dict[str, Any]:
    body = asdict(info)
    body["capabilities"] = sorted(info.capabilities)
    return body


class InternalApi(APIView):
    authentication_classes = [InternalServiceAuthentication]
    permission_classes = [IsAuthenticated]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, public.UsersError) and type(exc) in ERRORS:
            status, code = ERRORS[type(exc)]
            exc = InternalError(status, code, str(exc))
        return super().handle_exception(exc)

    def service(self, request: Request) -> LocalUsersService:
        caller = request.user
        assert isinstance(caller, InternalCaller)  # the only authentication class makes one
        return LocalUsersService(reader=caller.issuer)


class UserInfoApi(InternalApi):
    def get(self, request: Request, user_id: int) -> Response:
        return Response(user_info_body(self.service(request).user_get(user_id=user_id)))


class ServicePermissionsApi(InternalApi):
    def get(self, request: Request, user_id: int, service_id: int) -> Response:
        rights = self.service(request).service_permissions(user_id=user_id, service_id=service_id)
        return Response({"permissions": sorted(rights)})


class CredentialTokenApi(InternalApi):
    class InputSerializer(serializers.Serializer):
        job_id = serializers.CharField(max_length=64)

    def post(self, request: Request, user_id: int, service_id: int) -> Response:
        service = self.service(request)
        if service.reader not in settings.USERS_TOKEN_READERS:
            raise InternalError(403, "AUTHORIZATION_ERROR", f"{service.reader!r} may not read users' service tokens.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = service.credential_token_for_job(
            owner_id=user_id, service_id=service_id, job_id=data.validated_data["job_id"]
        )
        return Response({"token": token}, headers={"Cache-Control": "no-store"})
