"""What the notifications context asks the users context, through its public interface: who a recipient is
(address, time zone, whether they take e-mail) and who hears about a service."""

from __future__ import annotations

from apps.users.public import UserInfo, UserNotFoundError, get_users_service


def recipient_get(user_id: int) -> UserInfo | None:
    """None when the users context knows no such user (deleted since); UsersUnavailableError propagates, so the
    caller's task or consumer retries later."""
    try:
        return get_users_service().user_get(user_id=user_id)
    except UserNotFoundError:
        return None


def service_audience(service_id: int) -> list[int]:
    return get_users_service().service_audience(service_id=service_id)
