"""The users context's public interface: the only part of apps.users that other contexts may import.

Other contexts ask who a user is (role, capabilities, quotas), whether they may do something on a service,
who hears about a service (notifications), and (the jobs context only) for a job owner's decrypted service
token. `get_users_service()` answers in-process, or over HTTP when the users context runs as its own deployable
(CONTEXT_URLS["users"]); both implementations pass the same tests (apps/users/tests/test_public.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Quotas:
    monthly_jobs: int
    storage_bytes: int


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    email: str
    first_name: str
    last_name: str
    role: str
    is_active: bool
    is_staff: bool
    capabilities: frozenset[str]
    timezone: str
    email_notifications: bool
    quotas: Quotas

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


class UsersError(Exception):
    """Base of the users context's public errors."""


class UserNotFoundError(UsersError):
    pass


class CredentialMissingError(UsersError):
    """The user has stored no token for that service."""


class CredentialExpiredError(UsersError):
    """The user's token for that service is past the expiry they recorded; they must set a new one."""


class UsersUnavailableError(UsersError):
    """The users deployable could not be reached or answered with an error; the caller may retry later."""


class UsersService(ABC):
    @abstractmethod
    def user_get(self, *, user_id: int) -> UserInfo:
        """The user with role, capabilities and quotas; UserNotFoundError when there is none."""

    @abstractmethod
    def service_permissions(self, *, user_id: int, service_id: int) -> frozenset[str]:
        """What the user may do on that service (view, submit_jobs, view_jobs, manage_jobs, admin)."""

    @abstractmethod
    def credential_token_for_job(self, *, owner_id: int, service_id: int, job_id: str) -> str:
        """The job owner's decrypted token for the service, for submitting or polling that job; audited."""

    def service_permission_has(self, *, user_id: int, service_id: int, permission: str) -> bool:
        return permission in self.service_permissions(user_id=user_id, service_id=service_id)

    def service_audience(self, *, service_id: int) -> list[int]:
        """Ids of the active users who hear about that service: admins and service admins (every service), and
        holders of an unexpired grant or a group membership on it; sorted.

        Not abstract, so test doubles of this interface written before it existed still instantiate.
        """
        raise NotImplementedError(f"{type(self).__name__} does not answer service_audience")


# By name, so this module (imported by every other context) does not import the implementations, which import it.
LOCAL = "apps.users.impl.LocalUsersService"
REMOTE = "apps.users.remote.RemoteUsersService"


@lru_cache(maxsize=4)
def _remote(base_url: str) -> UsersService:
    service: UsersService = import_string(REMOTE)(base_url=base_url)
    return service


def get_users_service() -> UsersService:
    """In-process unless the users context has been extracted and this process is not it."""
    base_url = settings.CONTEXT_URLS.get("users")
    if base_url and settings.DEPLOYABLE != "users":
        return _remote(base_url)
    service: UsersService = import_string(LOCAL)()
    return service
