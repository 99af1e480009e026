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
from rest_framework.request import Request
from rest_framework.response import Response

from apps.kernel.internal_http import InternalApi, PublicError
from apps.users import public
from apps.users.impl import LocalUsersService

ERRORS: dict[type[Exception], tuple[int, str]] = {
    public.UserNotFoundError: (404, "USER_NOT_FOUND"),
    public.CredentialMissingError: (404, "CREDENTIAL_MISSING"),
    public.CredentialExpiredError: (409, "CREDENTIAL_EXPIRED"),
}


def user_info_body(info: public.UserInfo) -> dict[str, Any]:
    body = asdict(info)
    body["capabilities"] = sorted(info.capabilities)
    return body


class UsersInternalApi(InternalApi):
    public_errors = ERRORS

    def service(self, request: Request) -> LocalUsersService:
        return LocalUsersService(reader=self.caller(request).issuer)


class UserInfoApi(UsersInternalApi):
    def get(self, request: Request, user_id: int) -> Response:
        return Response(user_info_body(self.service(request).user_get(user_id=user_id)))


class ServicePermissionsApi(UsersInternalApi):
    def get(self, request: Request, user_id: int, service_id: int) -> Response:
        rights = self.service(request).service_permissions(user_id=user_id, service_id=service_id)
        return Response({"permissions": sorted(rights)})


class ServiceAudienceApi(UsersInternalApi):
    def get(self, request: Request, service_id: int) -> Response:
        return Response({"user_ids": self.service(request).service_audience(service_id=service_id)})


class CredentialTokenApi(UsersInternalApi):
    class InputSerializer(serializers.Serializer):
        job_id = serializers.CharField(max_length=64)

    def post(self, request: Request, user_id: int, service_id: int) -> Response:
        service = self.service(request)
        if service.reader not in settings.USERS_TOKEN_READERS:
            raise PublicError(403, "AUTHORIZATION_ERROR", f"{service.reader!r} may not read users' service tokens.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = service.credential_token_for_job(
            owner_id=user_id, service_id=service_id, job_id=data.validated_data["job_id"]
        )
        return Response({"token": token}, headers={"Cache-Control": "no-store"})
