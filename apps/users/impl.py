"""The in-process implementation of the users context's public interface (apps/users/public.py)."""

from __future__ import annotations

from apps.users import public
from apps.users.models import DB, User
from apps.users.roles import user_capabilities
from apps.users.selectors.access import service_audience, service_permissions_of
from apps.users.selectors.accounts import user_profile_get
from apps.users.services import credentials


def _user(user_id: int) -> User:
    user = User.objects.using(DB).filter(pk=user_id).first()
    if user is None:
        raise public.UserNotFoundError(f"user {user_id} does not exist")
    return user


def user_info_of(user: User) -> public.UserInfo:
    profile = user_profile_get(user=user)
    return public.UserInfo(
        id=user.pk,
        username=user.username,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        role=user.role,
        is_active=user.is_active,
        is_staff=user.is_staff,
        capabilities=frozenset(str(capability) for capability in user_capabilities(user)),
        timezone=profile.timezone,
        email_notifications=profile.email_notifications,
        quotas=public.Quotas(monthly_jobs=profile.monthly_job_quota, storage_bytes=profile.storage_quota_bytes),
    )


class LocalUsersService(public.UsersService):
    def __init__(self, *, reader: str = "jobs") -> None:
        self.reader = reader  # who reads tokens, as the audit trail records it

    def user_get(self, *, user_id: int) -> public.UserInfo:
        return user_info_of(_user(user_id))

    def service_permissions(self, *, user_id: int, service_id: int) -> frozenset[str]:
        return frozenset(str(right) for right in service_permissions_of(user=_user(user_id), service_id=service_id))

    def service_audience(self, *, service_id: int) -> list[int]:
        return service_audience(service_id=service_id)

    def credential_token_for_job(self, *, owner_id: int, service_id: int, job_id: str) -> str:
        _user(owner_id)
        try:
            return credentials.credential_token_read(
                owner_id=owner_id, service_id=service_id, job_id=job_id, reader=self.reader
            )
        except credentials.CredentialMissingError as exc:
            raise public.CredentialMissingError(str(exc)) from exc
        except credentials.CredentialExpiredError as exc:
            raise public.CredentialExpiredError(str(exc)) from exc
