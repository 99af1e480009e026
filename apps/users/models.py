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
