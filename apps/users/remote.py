"""The users context's public interface over HTTP, for deployables that do not host the users context.

Calls carry a short-lived internal service token addressed to `users`. Reads retry once on another connection
attempt; nothing is retried after the request may have reached the server, so a token read is audited once.
"""

from __future__ import annotations

from typing import Any

import httpx
from django.conf import settings

from apps.kernel.internal_auth import INTERNAL_TOKEN_HEADER, internal_token_issue
from apps.users import public

ERRORS: dict[str, type[public.UsersError]] = {
    "USER_NOT_FOUND": public.UserNotFoundError,
    "CREDENTIAL_MISSING": public.CredentialMissingError,
    "CREDENTIAL_EXPIRED": public.CredentialExpiredError,
}


class RemoteUsersService(public.UsersService):
    def __init__(self, *, base_url: str, timeout: float = 5.0) -> None:
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=2.0),
            transport=httpx.HTTPTransport(retries=1),  # connection failures only: the request never left
            headers={"User-Agent": f"fip-{settings.DEPLOYABLE}/users-remote"},
        )

    def _call(self, method: str, path: str, json: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {INTERNAL_TOKEN_HEADER: internal_token_issue(audience="users")}
        try:
            response = self.client.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise public.UsersUnavailableError(f"users deployable unreachable: {exc.__class__.__name__}") from exc
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.is_success:
            return body
        error = body.get("error") or {}
        raised = ERRORS.get(str(error.get("code")))
        if raised is not None:
            raise raised(str(error.get("message", "")))
        raise public.UsersUnavailableError(f"users deployable answered {response.status_code} to {method} {path}")

    def user_get(self, *, user_id: int) -> public.UserInfo:
        body = self._call("GET", f"/internal/users/{user_id}/")
        return public.UserInfo(
            **{**body, "capabilities": frozenset(body["capabilities"]), "quotas": public.Quotas(**body["quotas"])}
        )

    def service_permissions(self, *, user_id: int, service_id: int) -> frozenset[str]:
        body = self._call("GET", f"/internal/users/{user_id}/services/{service_id}/permissions/")
        return frozenset(body["permissions"])

    def credential_token_for_job(self, *, owner_id: int, service_id: int, job_id: str) -> str:
        body = self._call("POST", f"/internal/users/{owner_id}/credentials/{service_id}/token/", {"job_id": job_id})
        return str(body["token"])
