"""Writes of the users context about per-service access: granting and revoking rights, groups and their members.

Only a manager of the service may change its access (apps/users/selectors/access.py administered_service_ids);
to anyone else a grant or group they cannot manage does not exist (404), except their own grants and the groups
they belong to, which they can read and so are refused (403). Every change is audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction

from apps.kernel.errors import ApplicationError, ConflictError, NotFoundError
from apps.users.events import ClientInfo, user_action_record
from apps.users.models import DB, ServiceGroup, ServiceGroupMembership, ServicePermission, ServicePermissionGrant, User
from apps.users.selectors.access import administered_service_ids


class AccessDeniedError(ApplicationError):
    status, code = 403, "AUTHORIZATION_ERROR"


def _service_manage_check(*, actor: User, service_id: int) -> None:
    managed = administered_service_ids(user=actor)
    if managed is not None and service_id not in managed:
        raise AccessDeniedError(f"You may not manage access to service {service_id}.")


def _grant_get(*, actor: User, grant_id: int) -> ServicePermissionGrant:
    """A grant the actor manages; their own grant, which they can read, is refused (403) rather than hidden."""
    grant = ServicePermissionGrant.objects.using(DB).select_for_update().filter(pk=grant_id).first()
    managed = administered_service_ids(user=actor)
    if grant is None or (managed is not None and grant.service_id not in managed and grant.user_id != actor.pk):
        raise NotFoundError("Not found.")
    if managed is not None and grant.service_id not in managed:
        raise AccessDeniedError(f"You may not manage access to service {grant.service_id}.")
    return grant


def _group_get(*, actor: User, group_id: int) -> ServiceGroup:
    """A group the actor manages; one they belong to, which they can read, is refused (403) rather than hidden."""
    group = ServiceGroup.objects.using(DB).select_for_update().filter(pk=group_id).first()
    managed = administered_service_ids(user=actor)
    if group is None or (
        managed is not None
        and group.service_id not in managed
        and not ServiceGroupMembership.objects.using(DB).filter(group=group, user=actor).exists()
    ):
        raise NotFoundError("Not found.")
    if managed is not None and group.service_id not in managed:
        raise AccessDeniedError(f"You may not manage access to service {group.service_id}.")
    return group


def _user_get(user_id: int, *, field: str) -> User:
    user = User.objects.using(DB).filter(pk=user_id).first()
    if user is None:
        raise ApplicationError("No such user.", details={field: [f"User {user_id} does not exist."]})
    return user


def permissions_clean(names: Iterable[str]) -> list[str]:
    """A group's rights as stored: known names only, each once, in the table's order."""
    names = list(names)
    unknown = sorted(set(names) - set(ServicePermission.values))
    if unknown:
        raise ApplicationError(
            "Unknown permission.",
            details={
                "permissions": [f"{name!r} is not one of {', '.join(ServicePermission.values)}." for name in unknown]
            },
        )
    return [name for name in ServicePermission.values if name in names]


def grant_create(
    *,
    actor: User,
    user_id: int,
    service_id: int,
    permission: str,
    expires_at: datetime | None = None,
    client: ClientInfo,
) -> ServicePermissionGrant:
    _service_manage_check(actor=actor, service_id=service_id)
    grantee = _user_get(user_id, field="user_id")
    try:
        with transaction.atomic(using=DB):
            grant = ServicePermissionGrant.objects.using(DB).create(
                user=grantee, service_id=service_id, permission=permission, expires_at=expires_at, granted_by=actor
            )
            user_action_record(
                action="permission_granted",
                actor_id=actor.pk,
                client=client,
                resource_type="service_permission",
                resource_id=grant.pk,
                details={
                    "user_id": grantee.pk,
                    "service_id": service_id,
                    "permission": permission,
                    "expires_at": expires_at.isoformat() if expires_at else None,
                },
            )
    except IntegrityError as exc:
        raise ConflictError(
            f"User {grantee.pk} already holds {permission!r} on service {service_id}; "
            "change that grant's expiry instead."
        ) from exc
    return grant


def grant_update(
    *, actor: User, grant_id: int, expires_at: datetime | None, client: ClientInfo
) -> ServicePermissionGrant:
    """Only the expiry of a grant changes; another right is another grant."""
    with transaction.atomic(using=DB):
        grant = _grant_get(actor=actor, grant_id=grant_id)
        grant.expires_at = expires_at
        grant.save(using=DB, update_fields=["expires_at"])
        user_action_record(
            action="permission_updated",
            actor_id=actor.pk,
            client=client,
            resource_type="service_permission",
            resource_id=grant.pk,
            details={"expires_at": expires_at.isoformat() if expires_at else None},
        )
    return grant


def grant_delete(*, actor: User, grant_id: int, client: ClientInfo) -> None:
    with transaction.atomic(using=DB):
        grant = _grant_get(actor=actor, grant_id=grant_id)
        details = {"user_id": grant.user_id, "service_id": grant.service_id, "permission": grant.permission}
        grant_pk = grant.pk
        grant.delete(using=DB)
        user_action_record(
            action="permission_revoked",
            actor_id=actor.pk,
            client=client,
            resource_type="service_permission",
            resource_id=grant_pk,
            details=details,
        )


def _group_record(action: str, *, actor: User, group: ServiceGroup, client: ClientInfo, **details: object) -> None:
    user_action_record(
        action=action,
        actor_id=actor.pk,
        client=client,
        resource_type="service_group",
        resource_id=group.pk,
        details={"service_id": group.service_id, "name": group.name, **details},
    )


def group_create(
    *, actor: User, name: str, service_id: int, permissions: Iterable[str], description: str = "", client: ClientInfo
) -> ServiceGroup:
    _service_manage_check(actor=actor, service_id=service_id)
    try:
        with transaction.atomic(using=DB):
            group = ServiceGroup.objects.using(DB).create(
                name=name, service_id=service_id, description=description, permissions=permissions_clean(permissions)
            )
            _group_record("group_created", actor=actor, group=group, client=client, permissions=group.permissions)
    except IntegrityError as exc:
        raise ConflictError(f"Service {service_id} already has a group named {name!r}.") from exc
    return group


def group_update(
    *,
    actor: User,
    group_id: int,
    name: str | None = None,
    description: str | None = None,
    permissions: Iterable[str] | None = None,
    client: ClientInfo,
) -> ServiceGroup:
    try:
        with transaction.atomic(using=DB):
            group = _group_get(actor=actor, group_id=group_id)
            if name is not None:
                group.name = name
            if description is not None:
                group.description = description
            if permissions is not None:
                group.permissions = permissions_clean(permissions)
            group.save(using=DB)
            _group_record("group_updated", actor=actor, group=group, client=client, permissions=group.permissions)
    except IntegrityError as exc:
        raise ConflictError(f"This service already has a group named {name!r}.") from exc
    return group


def group_delete(*, actor: User, group_id: int, client: ClientInfo) -> None:
    with transaction.atomic(using=DB):
        group = _group_get(actor=actor, group_id=group_id)
        _group_record("group_deleted", actor=actor, group=group, client=client)
        group.delete(using=DB)


def group_member_add(*, actor: User, group_id: int, user_id: int, client: ClientInfo) -> ServiceGroupMembership:
    with transaction.atomic(using=DB):
        group = _group_get(actor=actor, group_id=group_id)
        member = _user_get(user_id, field="user_id")
        membership, created = ServiceGroupMembership.objects.using(DB).get_or_create(
            group=group, user=member, defaults={"added_by": actor}
        )
        if created:
            _group_record("group_member_added", actor=actor, group=group, client=client, user_id=member.pk)
    return membership


def group_member_remove(*, actor: User, group_id: int, user_id: int, client: ClientInfo) -> None:
    with transaction.atomic(using=DB):
        group = _group_get(actor=actor, group_id=group_id)
        removed, _ = ServiceGroupMembership.objects.using(DB).filter(group=group, user_id=user_id).delete()
        if not removed:
            raise NotFoundError(f"User {user_id} is not a member of this group.")
        _group_record("group_member_removed", actor=actor, group=group, client=client, user_id=user_id)
