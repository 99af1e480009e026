"""Reads of the users context about per-service access: grants, groups, and what a user may do on a service."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.users.access import effective_permissions
from apps.users.models import (
    DB,
    Role,
    ServiceGroup,
    ServiceGroupMembership,
    ServicePermission,
    ServicePermissionGrant,
    User,
)
from apps.users.roles import Capability, user_can


def _unexpired(now: datetime) -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


def granted_permissions(*, user_id: int, service_id: int) -> set[str]:
    """The rights a user's unexpired direct grants and group memberships name on one service."""
    now = timezone.now()
    direct = ServicePermissionGrant.objects.using(DB).filter(_unexpired(now), user_id=user_id, service_id=service_id)
    rights = set(direct.values_list("permission", flat=True))
    for permissions in (
        ServiceGroup.objects.using(DB)
        .filter(service_id=service_id, members__id=user_id)
        .values_list("permissions", flat=True)
    ):
        rights.update(str(name) for name in permissions)
    return rights


def service_permissions_of(*, user: User, service_id: int) -> frozenset[ServicePermission]:
    return effective_permissions(user=user, granted=granted_permissions(user_id=user.pk, service_id=service_id))


def service_permission_has(*, user: User, service_id: int, permission: ServicePermission) -> bool:
    return permission in service_permissions_of(user=user, service_id=service_id)


def service_audience(*, service_id: int) -> list[int]:
    """Active users concerned by a service: admins, service admins and superusers (who run every service), and
    whoever holds an unexpired grant or a group membership on it; sorted ids."""
    granted = ServicePermissionGrant.objects.using(DB).filter(_unexpired(timezone.now()), service_id=service_id)
    grouped = ServiceGroupMembership.objects.using(DB).filter(group__service_id=service_id)
    users = (
        User.objects.using(DB)
        .filter(is_active=True)
        .filter(
            Q(role__in=[Role.ADMIN, Role.SERVICE_ADMIN])
            | Q(is_superuser=True)
            | Q(pk__in=granted.values("user_id"))
            | Q(pk__in=grouped.values("user_id"))
        )
    )
    return sorted(users.values_list("pk", flat=True))


def administered_service_ids(*, user: User) -> set[int] | None:
    """The services whose access `user` may manage; None means every service (the manage_permissions capability).

    Besides that capability, an unexpired `admin` right on a service (direct or through a group) makes its
    holder that service's manager, where their role's ceiling allows it.
    """
    if user_can(user, Capability.MANAGE_PERMISSIONS):
        return None
    if ServicePermission.ADMIN not in effective_permissions(user=user, granted=[ServicePermission.ADMIN]):
        return set()
    direct = ServicePermissionGrant.objects.using(DB).filter(
        _unexpired(timezone.now()), user=user, permission=ServicePermission.ADMIN
    )
    services = set(direct.values_list("service_id", flat=True))
    for service_id, permissions in (
        ServiceGroup.objects.using(DB).filter(members=user).values_list("service_id", "permissions")
    ):
        if ServicePermission.ADMIN in permissions:
            services.add(service_id)
    return services


def grant_list(
    *, actor: User, service_id: int | None = None, user_id: int | None = None
) -> QuerySet[ServicePermissionGrant]:
    """Grants the actor may see: all of the services they manage, and always their own."""
    grants = ServicePermissionGrant.objects.using(DB).select_related("user").order_by("service_id", "user_id", "id")
    managed = administered_service_ids(user=actor)
    if managed is not None:
        grants = grants.filter(Q(service_id__in=managed) | Q(user=actor))
    if service_id is not None:
        grants = grants.filter(service_id=service_id)
    if user_id is not None:
        grants = grants.filter(user_id=user_id)
    return grants


def group_list(*, actor: User, service_id: int | None = None) -> QuerySet[ServiceGroup]:
    """Groups the actor may see: all of the services they manage, and those they belong to."""
    groups = ServiceGroup.objects.using(DB).prefetch_related("memberships__user").order_by("service_id", "name")
    managed = administered_service_ids(user=actor)
    if managed is not None:
        groups = groups.filter(Q(service_id__in=managed) | Q(members=actor)).distinct()
    if service_id is not None:
        groups = groups.filter(service_id=service_id)
    return groups
