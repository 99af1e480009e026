"""The credential vault endpoints (API_CONTRACT.md "/api/credentials/"): the caller's own per-service API tokens.

The token is write-only: bodies say whether one is stored and, for long tokens, its last four characters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.kernel.pagination import paginated_response
from apps.users.api.base import UsersApi, current_user
from apps.users.events import ClientInfo
from apps.users.models import ServiceCredential
from apps.users.selectors.credentials import credential_get, credential_is_expired, credential_list
from apps.users.services.credentials import (
    LABEL_MAX,
    SERVICE_ID_MAX,
    TOKEN_MAX,
    credential_delete,
    credential_set,
    credential_update,
    credential_verify,
)


def token_field(*, required: bool = True) -> serializers.CharField:
    """Write-only; surrounding whitespace is trimmed before the blank and length checks."""
    return serializers.CharField(required=required, write_only=True, max_length=TOKEN_MAX)


class CredentialOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    service_id = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]  # (the stubs type Field.label, a field's caption)
    has_token = serializers.BooleanField()
    token_last4 = serializers.CharField(allow_null=True)
    is_verified = serializers.BooleanField()
    last_verified_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    is_expired = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def credential_body(credential: ServiceCredential, *, now: datetime | None = None) -> dict[str, Any]:
    """Built field by field from an explicit mapping, so the ciphertext cannot slip into a body."""
    return dict(
        CredentialOutputSerializer(
            {
                "id": credential.pk,
                "service_id": credential.service_id,
                "label": credential.label,
                "has_token": bool(credential.ciphertext),
                "token_last4": credential.last4 or None,
                "is_verified": credential.is_verified,
                "last_verified_at": credential.last_verified_at,
                "last_used_at": credential.last_used_at,
                "expires_at": credential.expires_at,
                "is_expired": credential_is_expired(credential, now=now),
                "created_at": credential.created_at,
                "updated_at": credential.updated_at,
            }
        ).data
    )


def _credential_bodies(credentials: list[ServiceCredential]) -> list[dict[str, Any]]:
    now = timezone.now()
    return [credential_body(credential, now=now) for credential in credentials]


class CredentialListApi(UsersApi):
    class InputSerializer(serializers.Serializer):
        service_id = serializers.IntegerField(min_value=1, max_value=SERVICE_ID_MAX)
        token = token_field()
        label = serializers.CharField(  # type: ignore[assignment]
            max_length=LABEL_MAX, required=False, allow_blank=True, default=""
        )
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def get(self, request: Request) -> Response:
        return paginated_response(
            items=credential_list(user=current_user(request)), render=_credential_bodies, request=request, view=self
        )

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credential, created = credential_set(
            user=current_user(request), client=ClientInfo.of(request._request), **data.validated_data
        )
        return Response(credential_body(credential), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CredentialDetailApi(UsersApi):
    class InputSerializer(serializers.Serializer):
        label = serializers.CharField(max_length=LABEL_MAX, required=False, allow_blank=True)  # type: ignore[assignment]
        token = token_field(required=False)
        expires_at = serializers.DateTimeField(required=False, allow_null=True)

    def get(self, request: Request, pk: int) -> Response:
        return Response(credential_body(credential_get(user=current_user(request), credential_id=pk)))

    def patch(self, request: Request, pk: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credential = credential_update(
            user=current_user(request),
            credential_id=pk,
            client=ClientInfo.of(request._request),
            **data.validated_data,
        )
        return Response(credential_body(credential))

    def delete(self, request: Request, pk: int) -> Response:
        credential_delete(user=current_user(request), credential_id=pk, client=ClientInfo.of(request._request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CredentialVerifyApi(UsersApi):
    def post(self, request: Request, pk: int) -> Response:
        credential = credential_verify(
            user=current_user(request), credential_id=pk, client=ClientInfo.of(request._request)
        )
        return Response(credential_body(credential))
