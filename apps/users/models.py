"""Persistent state of the users context (its own database alias)."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from apps.kernel.outbox import InboxEntryBase, OutboxEventBase

DB = "users"  # the alias of this context: every query and transaction of apps.users names it
DEFAULT_MONTHLY_JOB_QUOTA = 100
DEFAULT_STORAGE_QUOTA_BYTES = 50 * 1024**3  # 50 GiB


class OutboxEvent(OutboxEventBase):
    """Events of this context waiting for the relay, written in the same transaction as the change."""


class InboxEntry(InboxEntryBase):
    """Events this context's consumers have applied, so each effect happens once."""


class Role(models.TextChoices):
    """The platform roles; what each may do is the capability table in apps/users/roles.py."""

    ADMIN = "admin", "Administrator"
    SERVICE_ADMIN = "service_admin", "Service administrator"
    RESEARCHER = "researcher", "Researcher"
    SERVICE_USER = "service_user", "Service user"
    VIEWER = "viewer", "Viewer"


class User(AbstractUser):
    """The platform's account; custom from the first migration so the users context can grow it freely."""

    role = models.CharField(max_length=32, choices=Role.choices, default=Role.RESEARCHER)


@lru_cache(maxsize=1)
def _timezone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_validate(value: str) -> None:
    """Only IANA time zone names (e.g. "Africa/Nairobi") are stored, so every consumer can load them."""
    if value not in _timezone_names():
        raise ValidationError(f"{value!r} is not an IANA time zone name (e.g. 'UTC', 'Africa/Nairobi').")


country_validate = RegexValidator(r"^[A-Z]{2}$", "Use an ISO 3166-1 alpha-2 country code such as 'ZA'.")


class Profile(models.Model):
    """What the platform knows about a user beyond authentication: affiliation, preferences and quotas."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    organization = models.CharField(max_length=200, blank=True, default="")
    institution = models.CharField(max_length=200, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="", validators=[country_validate])
    timezone = models.CharField(max_length=64, default="UTC", validators=[timezone_validate])
    email_notifications = models.BooleanField(default=True)
    monthly_job_quota = models.PositiveIntegerField(default=DEFAULT_MONTHLY_JOB_QUOTA)
    storage_quota_bytes = models.PositiveBigIntegerField(default=DEFAULT_STORAGE_QUOTA_BYTES)

    def __str__(self) -> str:
        return f"profile of user {self.user_id}"


class ServicePermission(models.TextChoices):
    """What a user may do on one imputation service; apps/users/permissions.py says what each implies."""

    VIEW = "view", "View the service"
    SUBMIT_JOBS = "submit_jobs", "Submit jobs"
    VIEW_JOBS = "view_jobs", "View everyone's jobs on the service"
    MANAGE_JOBS = "manage_jobs", "Cancel and retry everyone's jobs on the service"
    ADMIN = "admin", "Administer the service"


class ServicePermissionGrant(models.Model):
    """One permission on one service given directly to a user, until `expires_at` when set.

    `service_id` names a registry service by id only: the registry is another context with its own database.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_grants")
    service_id = models.PositiveBigIntegerField()
    permission = models.CharField(max_length=32, choices=ServicePermission.choices)
    expires_at = models.DateTimeField(null=True, blank=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "service_id", "permission"], name="users_grant_unique"),
        ]
        indexes = [models.Index(fields=["service_id", "permission"], name="users_grant_service")]

    def __str__(self) -> str:
        return f"{self.permission} on service {self.service_id} for user {self.user_id}"


class ServiceGroup(models.Model):
    """A named set of users who all hold the group's permissions on one service (e.g. a consortium)."""

    name = models.CharField(max_length=150)
    service_id = models.PositiveBigIntegerField()
    description = models.TextField(blank=True, default="")
    permissions = models.JSONField(default=list)  # ServicePermission values, validated by the services
    members: models.ManyToManyField[User, ServiceGroupMembership] = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="ServiceGroupMembership",
        through_fields=("group", "user"),
        related_name="service_groups",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["service_id", "name"], name="users_group_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} (service {self.service_id})"


class ServiceGroupMembership(models.Model):
    group = models.ForeignKey(ServiceGroup, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "user"], name="users_membership_unique")]

    def __str__(self) -> str:
        return f"user {self.user_id} in group {self.group_id}"


class ServiceCredential(models.Model):
    """A user's personal API token for one imputation service, stored only as ciphertext.

    `ciphertext` is a Fernet token under the vault's current key (apps/users/vault.py); `last4` is all of
    the secret the API ever shows. One credential per user and service: setting it again replaces it.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credentials")
    service_id = models.PositiveBigIntegerField()
    label = models.CharField(max_length=100, blank=True, default="")
    ciphertext = models.TextField()
    last4 = models.CharField(max_length=4)
    is_verified = models.BooleanField(default=False)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "service_id"], name="users_credential_unique")]

    def __str__(self) -> str:
        return f"credential of user {self.user_id} for service {self.service_id}"


class AppendOnlyError(Exception):
    """An attempt to change or remove an audit log entry."""


class AuditLogQuerySet(models.QuerySet["AuditLogEntry"]):
    """Bulk updates and deletes are refused: the audit log is append-only."""

    def update(self, **kwargs: object) -> int:
        raise AppendOnlyError("audit log entries cannot be changed")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit log entries cannot be deleted")


class AuditLogEntry(models.Model):
    """One audited action, recorded from a `user.action.logged` event of any context.

    Actor and resource are plain values, not foreign keys: the trail outlives the accounts and objects it
    names, and entries come from other contexts. `event_id` makes a redelivered event a no-op.
    """

    event_id = models.UUIDField(unique=True)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=32)
    actor_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=64)
    resource_type = models.CharField(max_length=64, blank=True, default="")
    resource_id = models.CharField(max_length=64, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True, default="")
    request_id = models.CharField(max_length=128, blank=True, default="")  # as long as the kernel accepts
    details = models.JSONField(default=dict, blank=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["occurred_at"], name="users_audit_time"),
            models.Index(fields=["actor_id", "occurred_at"], name="users_audit_actor"),
            models.Index(fields=["action", "occurred_at"], name="users_audit_action"),
            models.Index(fields=["resource_type", "resource_id"], name="users_audit_resource"),
        ]
        verbose_name_plural = "audit log entries"

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit log entries cannot be changed")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit log entries cannot be deleted")
