"""Writes of the users context about accounts: creating and managing users, profiles, registration, the first admin.

Every change runs in one transaction on the `users` alias together with its audit event (apps/users/events.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.kernel.errors import ApplicationError, ConflictError, NotFoundError
from apps.users.events import ClientInfo, user_action_record
from apps.users.models import DB, Profile, Role, User
from apps.users.passwords import password_problems
from apps.users.services.auth import refresh_tokens_revoke_all


class RegistrationClosedError(NotFoundError):
    """Self-registration is off: the endpoint answers as if it did not exist."""


def user_create(
    *,
    username: str,
    email: str,
    password: str,
    role: str = Role.RESEARCHER,
    first_name: str = "",
    last_name: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
) -> User:
    """A user with its profile; the caller validates the password and owns the transaction and the event."""
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        role=role,
        is_staff=is_staff,
        is_superuser=is_superuser,
    )
    user.set_password(password)
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        raise ApplicationError("The account details are not valid.", details=exc.message_dict) from exc
    user.save(using=DB)
    Profile.objects.using(DB).create(user=user)
    return user


def user_register(
    *,
    enabled: bool,
    username: str,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    client: ClientInfo,
) -> User:
    """Self-registration (when the platform allows it): always a researcher, never staff."""
    if not enabled:
        raise RegistrationClosedError("Not found.")
    candidate = User(username=username, email=email, first_name=first_name, last_name=last_name)
    problems = password_problems(password, user=candidate)
    if problems:
        raise ApplicationError("The password is not acceptable.", details={"password": problems})
    with transaction.atomic(using=DB):
        if User.objects.using(DB).filter(username=username).exists():
            raise ApplicationError(
                "A user with that username already exists.",
                details={"username": ["A user with that username already exists."]},
            )
        user = user_create(
            username=username,
            email=email,
            password=password,
            first_name=first_name,
            last_name=last_name,
            role=Role.RESEARCHER,
        )
        user_action_record(action="register", actor_id=user.pk, client=client)
    return user


@dataclass(frozen=True)
class AdminEnsured:
    user: User
    created: bool
    changed: list[str]


def admin_ensure(*, username: str, email: str, password: str) -> AdminEnsured:
    """Create the first admin, or bring an existing account of that name to admin with these settings.

    Idempotent: a second run with the same values changes nothing and records nothing.
    """
    existing = User.objects.using(DB).filter(username=username).first()
    problems = password_problems(password, user=existing or User(username=username, email=email))
    if problems:
        raise ApplicationError("The admin password is not acceptable.", details={"password": problems})
    with transaction.atomic(using=DB):
        if existing is None:
            user = user_create(
                username=username,
                email=email,
                password=password,
                role=Role.ADMIN,
                is_staff=True,
                is_superuser=True,
            )
            user_action_record(action="admin_created", actor_id=None, client=ClientInfo(), resource_id=user.pk)
            return AdminEnsured(user=user, created=True, changed=[])
        user = User.objects.using(DB).select_for_update().get(pk=existing.pk)
        wanted = {"email": email, "role": Role.ADMIN.value, "is_staff": True, "is_superuser": True, "is_active": True}
        changed = [field for field, value in wanted.items() if getattr(user, field) != value]
        for field in changed:
            setattr(user, field, wanted[field])
        if not user.check_password(password):
            user.set_password(password)
            changed.append("password")
        if changed:
            user.save(using=DB)
            user_action_record(
                action="admin_updated",
                actor_id=None,
                client=ClientInfo(),
                resource_id=user.pk,
                details={"changed": sorted(changed)},
            )
        Profile.objects.using(DB).get_or_create(user=user)
        return AdminEnsured(user=user, created=False, changed=sorted(changed))


def _user_for_update(user_id: int) -> User:
    user = User.objects.using(DB).select_for_update().filter(pk=user_id).first()
    if user is None:
        raise NotFoundError("Not found.")
    return user


def _not_self(*, actor: User, user: User, what: str) -> None:
    """An admin cannot lock themselves out: another admin has to do it."""
    if actor.pk == user.pk:
        raise ConflictError(f"You cannot {what} your own account; ask another administrator.")


def user_admin_create(
    *,
    actor: User,
    username: str,
    email: str,
    password: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
    client: ClientInfo,
) -> User:
    """An account made by a user manager; staff status follows the admin role."""
    candidate = User(username=username, email=email, first_name=first_name, last_name=last_name)
    problems = password_problems(password, user=candidate)
    if problems:
        raise ApplicationError("The password is not acceptable.", details={"password": problems})
    with transaction.atomic(using=DB):
        user = user_create(
            username=username,
            email=email,
            password=password,
            role=role,
            first_name=first_name,
            last_name=last_name,
            is_staff=role == Role.ADMIN,
        )
        user_action_record(
            action="user_created", actor_id=actor.pk, client=client, resource_id=user.pk, details={"role": role}
        )
    return user


USER_FIELDS = ("email", "first_name", "last_name", "role")
PROFILE_FIELDS = (
    "organization",
    "institution",
    "country",
    "timezone",
    "email_notifications",
    "monthly_job_quota",
    "storage_quota_bytes",
)
OWN_PROFILE_FIELDS = PROFILE_FIELDS[:5]  # quotas are set by user managers only


def _profile_apply(user: User, changes: dict[str, Any]) -> Profile:
    profile, _ = Profile.objects.using(DB).select_for_update().get_or_create(user=user)
    for field, value in changes.items():
        setattr(profile, field, value)
    try:
        profile.full_clean(exclude=["user"])
    except ValidationError as exc:
        raise ApplicationError("The profile is not valid.", details=exc.message_dict) from exc
    profile.save(using=DB)
    return profile


def user_update(
    *, actor: User, user_id: int, fields: dict[str, Any], profile: dict[str, Any], client: ClientInfo
) -> User:
    """Change account fields and profile (incl. quotas); the changed names, not the values, are audited."""
    with transaction.atomic(using=DB):
        user = _user_for_update(user_id)
        if "role" in fields and fields["role"] != Role.ADMIN:
            _not_self(actor=actor, user=user, what="take the admin role from")
        for field, value in fields.items():
            setattr(user, field, value)
        if "role" in fields:
            user.is_staff = fields["role"] == Role.ADMIN or user.is_superuser
        try:
            user.full_clean(exclude=["password"])
        except ValidationError as exc:
            raise ApplicationError("The account details are not valid.", details=exc.message_dict) from exc
        user.save(using=DB)
        if profile:
            _profile_apply(user, profile)
        user_action_record(
            action="user_updated",
            actor_id=actor.pk,
            client=client,
            resource_id=user.pk,
            details={"changed": sorted([*fields, *profile]), **({"role": fields["role"]} if "role" in fields else {})},
        )
    return user


def user_delete(*, actor: User, user_id: int, client: ClientInfo) -> None:
    with transaction.atomic(using=DB):
        user = _user_for_update(user_id)
        _not_self(actor=actor, user=user, what="delete")
        user_action_record(
            action="user_deleted",
            actor_id=actor.pk,
            client=client,
            resource_id=user.pk,
            details={"username": user.username},
        )
        user.delete(using=DB)


def user_password_reset(*, actor: User, user_id: int, new_password: str, client: ClientInfo) -> None:
    """Set a user's password for them; every session they had ends."""
    with transaction.atomic(using=DB):
        user = _user_for_update(user_id)
        problems = password_problems(new_password, user=user)
        if problems:
            raise ApplicationError("The new password is not acceptable.", details={"new_password": problems})
        user.set_password(new_password)
        user.save(using=DB, update_fields=["password"])
        refresh_tokens_revoke_all(user=user)
        user_action_record(action="password_reset", actor_id=actor.pk, client=client, resource_id=user.pk)


def user_active_toggle(*, actor: User, user_id: int, client: ClientInfo) -> User:
    """Deactivate (ending every session) or reactivate an account."""
    with transaction.atomic(using=DB):
        user = _user_for_update(user_id)
        _not_self(actor=actor, user=user, what="deactivate")
        user.is_active = not user.is_active
        user.save(using=DB, update_fields=["is_active"])
        if not user.is_active:
            refresh_tokens_revoke_all(user=user)
        user_action_record(
            action="user_activated" if user.is_active else "user_deactivated",
            actor_id=actor.pk,
            client=client,
            resource_id=user.pk,
        )
    return user


def profile_update(*, user: User, changes: dict[str, Any], client: ClientInfo) -> Profile:
    """A user's own profile; quotas are not theirs to change."""
    refused = sorted(set(changes) - set(OWN_PROFILE_FIELDS))
    if refused:
        raise ApplicationError(
            "These profile fields cannot be changed here.", details={name: ["Read-only."] for name in refused}
        )
    with transaction.atomic(using=DB):
        profile = _profile_apply(user, changes)
        user_action_record(
            action="profile_updated", actor_id=user.pk, client=client, details={"changed": sorted(changes)}
        )
    return profile
