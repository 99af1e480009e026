"""Per-service access: what a user may do on one imputation service, from their role, grants and groups.

A right implies the weaker ones (admin > manage_jobs > view_jobs > view; submit_jobs > view). Each role has
rights it holds on every service and a ceiling that grants cannot lift:

| role          | on every service          | grants may add, up to          |
|---------------|---------------------------|--------------------------------|
| admin         | all                       | -                              |
| service_admin | all                       | -                              |
| researcher    | view, submit_jobs         | all                            |
| service_user  | view                      | view, submit_jobs, view_jobs   |
| viewer        | view                      | view, view_jobs                |

So a researcher may use any service and be made an operator of some; a service_user may submit only where
a grant or group lets them; a viewer never submits. Inactive accounts hold no rights. Expired grants count
for nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from apps.users.models import Role, ServicePermission, User

P = ServicePermission

IMPLIES: dict[ServicePermission, frozenset[ServicePermission]] = {
    P.VIEW: frozenset({P.VIEW}),
    P.SUBMIT_JOBS: frozenset({P.SUBMIT_JOBS, P.VIEW}),
    P.VIEW_JOBS: frozenset({P.VIEW_JOBS, P.VIEW}),
    P.MANAGE_JOBS: frozenset({P.MANAGE_JOBS, P.VIEW_JOBS, P.VIEW}),
    P.ADMIN: frozenset(P),
}

ROLE_BASE: dict[Role, frozenset[ServicePermission]] = {
    Role.ADMIN: frozenset(P),
    Role.SERVICE_ADMIN: frozenset(P),
    Role.RESEARCHER: frozenset({P.VIEW, P.SUBMIT_JOBS}),
    Role.SERVICE_USER: frozenset({P.VIEW}),
    Role.VIEWER: frozenset({P.VIEW}),
}

ROLE_CEILING: dict[Role, frozenset[ServicePermission]] = {
    Role.ADMIN: frozenset(P),
    Role.SERVICE_ADMIN: frozenset(P),
    Role.RESEARCHER: frozenset(P),
    Role.SERVICE_USER: frozenset({P.VIEW, P.SUBMIT_JOBS, P.VIEW_JOBS}),
    Role.VIEWER: frozenset({P.VIEW, P.VIEW_JOBS}),
}


def permissions_expand(granted: Iterable[str]) -> frozenset[ServicePermission]:
    """The granted rights with everything they imply; unknown names are ignored, never guessed at."""
    rights: set[ServicePermission] = set()
    for name in granted:
        if name in P.values:
            rights |= IMPLIES[P(name)]
    return frozenset(rights)


def effective_permissions(*, user: User, granted: Iterable[str]) -> frozenset[ServicePermission]:
    """What `user` may do on a service given the (unexpired) rights their grants and groups give there."""
    if not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(P)
    try:
        role = Role(user.role)
    except ValueError:
        return frozenset()
    return ROLE_BASE[role] | (permissions_expand(granted) & ROLE_CEILING[role])
