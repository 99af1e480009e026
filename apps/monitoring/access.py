"""What the monitoring context asks other contexts, through their public interfaces only: what a caller may do
(users), who the platform's operators are (users), and whether a service is still active (registry).

Operators are the users with the `view_all_jobs` capability (admins and service admins, superusers): they see the
analytics, the health details and the alerts, and are the ones alerted. The users context has no "list the
operators" call; its `service_audience` of a service that cannot exist (id 0) is exactly them, as that audience is
the operators plus the holders of grants on the service, and nobody holds a grant on service 0.
MONITORING_ALERT_USER_IDS, when set, names the recipients instead.
"""

from __future__ import annotations

import logging

from django.conf import settings

from apps.registry.public import RegistryError, ServiceNotFoundError, get_registry_service
from apps.users.public import UserInfo, UserNotFoundError, UsersError, get_users_service

logger = logging.getLogger(__name__)

OPERATOR_CAPABILITY = "view_all_jobs"
SUBMIT_CAPABILITY = "submit_jobs"
NO_SUCH_SERVICE = 0  # service ids start at 1: the audience of this one is the operators alone


def caller_info(user_id: int) -> UserInfo | None:
    """None for an account the users context no longer knows; UsersUnavailableError propagates (a 503)."""
    try:
        return get_users_service().user_get(user_id=user_id)
    except UserNotFoundError:
        return None


def operator_is(user_id: int) -> bool:
    info = caller_info(user_id)
    return info is not None and info.is_active and info.can(OPERATOR_CAPABILITY)


def alert_recipients() -> list[int] | None:
    """Who hears about alerts; None when the users context cannot say right now (the alerts wait for it)."""
    configured = [int(user_id) for user_id in settings.MONITORING_ALERT_USER_IDS]
    if configured:
        return sorted(set(configured))
    try:
        return get_users_service().service_audience(service_id=NO_SUCH_SERVICE)
    except (UsersError, NotImplementedError):
        logger.warning("the users context could not name the operators; alerts will be notified later", exc_info=True)
        return None


def service_still_active(service_id: int) -> bool:
    """False for a service the registry deactivated or deleted (its last health no longer matters); True when the
    registry cannot be asked, so an outage never silences an alert."""
    try:
        return get_registry_service().service_get(id_or_slug=service_id).is_active
    except ServiceNotFoundError:
        return False
    except RegistryError:
        return True
