"""Calls between the platform's own deployables: the client side (`<ctx>/remote.py`) and the server side
(`<ctx>/api/internal.py`) of a context's public interface over HTTP.

Each call carries a short-lived internal service token addressed to the callee. A context's public errors
travel as error codes in the usual envelope and are raised again, as the same exception types, on the caller's
side; anything else (network failure, 5xx, an unknown code) becomes the context's "unavailable" error.
Reads retry once on a fresh connection; nothing is retried after a request may have reached the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from django.conf import settings
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.kernel.errors import ApplicationError
from apps.kernel.internal_auth import (
    INTERNAL_TOKEN_HEADER,
    InternalCaller,
    InternalServiceAuthentication,
    internal_token_issue,
)


class InternalClient:
    def __init__(
        self,
        *,
        base_url: str,
        audience: str,
        errors: Mapping[str, type[Exception]],
        unavailable: type[Exception],
        timeout: float = 5.0,
    ) -> None:
        self.audience, self.errors, self.unavailable = audience, errors, unavailable
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=2.0),
            transport=httpx.HTTPTransport(retries=1),  # connection failures only: the request never left
            headers={"User-Agent": f"fip-{settings.DEPLOYABLE}/{audience}-remote"},
        )

    def call(
        self, method: str, path: str, json: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """The JSON body of a success; `timeout` (seconds) replaces the client's for this call."""
        headers = {INTERNAL_TOKEN_HEADER: internal_token_issue(audience=self.audience)}
        limit: Any = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        try:
            response = self.client.request(method, path, json=json, headers=headers, timeout=limit)
        except httpx.HTTPError as exc:
            raise self.unavailable(f"{self.audience} deployable unreachable: {exc.__class__.__name__}") from exc
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.is_success:
            return body
        error = body.get("error") or {}
        raised = self.errors.get(str(error.get("code")))
        if raised is not None:
            raise raised(str(error.get("message", "")))
        raise self.unavailable(f"{self.audience} deployable answered {response.status_code} to {method} {path}")


class PublicError(ApplicationError):
    """A context's public exception on its way over the wire, named by the code its remote client maps back."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


class InternalApi(APIView):
    """Base of the internal endpoints: internal service tokens only, public errors rendered by code."""

    authentication_classes = [InternalServiceAuthentication]
    permission_classes = [IsAuthenticated]
    public_errors: Mapping[type[Exception], tuple[int, str]] = {}

    def handle_exception(self, exc: Exception) -> Response:
        mapped = self.public_errors.get(type(exc))
        if mapped is not None:
            exc = PublicError(mapped[0], mapped[1], str(exc))
        return super().handle_exception(exc)

    def caller(self, request: Request) -> InternalCaller:
        caller = request.user
        if not isinstance(caller, InternalCaller):  # the only authentication class makes one
            raise PublicError(401, "AUTHENTICATION_ERROR", "An internal service token is required.")
        return caller
