"""What each role may do: the one capability table every check in the users context reads.

| capability         | admin | service_admin | researcher | service_user | viewer |
|--------------------|:-----:|:-------------:|:----------:|:------------:|:------:|
| manage_users       |   x   |               |            |              |        |
| view_audit_log     |   x   |               |            |              |        |
| manage_services    |   x   |       x       |            |              |        |
| manage_permissions |   x   |       x       |            |              |        |
| view_all_jobs      |   x   |       x       |            |              |        |
| submit_jobs        |   x   |       x       |     x      |      x       |        |
| view_services      |   x   |       x       |     x      |      x       |   x    |

A superuser has every capability whatever its role. Which services a user may submit to, and whose jobs
they may see there, is per-service access (apps/users/access.py): it refines submit_jobs and never widens a role.
"""

from __future__ import annotations

from enum import StrEnum

from apps.users.models import Role, User


class Capability(StrEnum):
    MANAGE_USERS = "manage_users"
    VIEW_AUDIT_LOG = "view_audit_log"
    MANAGE_SERVICES = "manage_services"
    MANAGE_PERMISSIONS = "manage_permissions"
    VIEW_ALL_JOBS = "view_all_jobs"
    SUBMIT_JOBS = "submit_jobs"
    VIEW_SERVICES = "view_services"


ROLE_CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role.ADMIN: frozenset(Capability),
    Role.SERVICE_ADMIN: frozenset(
        {
            Capability.MANAGE_SERVICES,
            Capability.MANAGE_PERMISSIONS,
            Capability.VIEW_ALL_JOBS,
            Capability.SUBMIT_JOBS,
            Capability.VIEW_SERVICES,
        }
    ),
    Role.RESEARCHER: frozenset({Capability.SUBMIT_JOBS, Capability.VIEW_SERVICES}),
    Role.SERVICE_USER: frozenset({Capability.SUBMIT_JOBS, Capability.VIEW_SERVICES}),
    Role.VIEWER: frozenset({Capability.VIEW_SERVICES}),
}


def role_capabilities(role: str) -> frozenset[Capability]:
    """The capabilities of a role name; an unknown name has none (never a default role's)."""
    try:
        return ROLE_CAPABILITIES[Role(role)]
    except ValueError:
        return frozenset()


def user_capabilities(user: User) -> frozenset[Capability]:
    if not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(Capability)
    return role_capabilities(user.role)


def user_can(user: User, capability: Capability) -> bool:
    return capability in user_capabilities(user)
