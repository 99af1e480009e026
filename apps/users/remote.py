"""The users context's public interface over HTTP, for deployables that do not host the users context."""

from __future__ import annotations

from apps.kernel.internal_http import InternalClient
from apps.users import public

ERRORS: dict[str, type[Exception]] = {
    "USER_NOT_FOUND": public.UserNotFoundError,
    "CREDENTIAL_MISSING": public.CredentialMissingError,
    "CREDENTIAL_EXPIRED": public.CredentialExpiredError,
}


class RemoteUsersService(public.UsersService):
    def __init__(self, *, base_url: str, timeout: float = 5.0) -> None:
        self.client = InternalClient(
            base_url=base_url,
            audience="users",
            errors=ERRORS,
            unavailable=public.UsersUnavailableError,
            timeout=timeout,
        )

    def user_get(self, *, user_id: int) -> public.UserInfo:
        body = self.client.call("GET", f"/internal/users/{user_id}/")
        return public.UserInfo(
            **{**body, "capabilities": frozenset(body["capabilities"]), "quotas": public.Quotas(**body["quotas"])}
        )

    def service_permissions(self, *, user_id: int, service_id: int) -> frozenset[str]:
        body = self.client.call("GET", f"/internal/users/{user_id}/services/{service_id}/permissions/")
        return frozenset(body["permissions"])

    def service_audience(self, *, service_id: int) -> list[int]:
        body = self.client.call("GET", f"/internal/users/services/{service_id}/audience/")
        return [int(user_id) for user_id in body["user_ids"]]

    def credential_token_for_job(self, *, owner_id: int, service_id: int, job_id: str) -> str:
        path = f"/internal/users/{owner_id}/credentials/{service_id}/token/"
        return str(self.client.call("POST", path, {"job_id": job_id})["token"])
