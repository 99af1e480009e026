"""The representation of "the current user" shared by login, registration and GET /api/auth/user/.

Per-operation input serializers live next to their views; this output is one contract shape, so it is defined once.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.users.models import Profile, User
from apps.users.selectors.accounts import user_profile_get

PASSWORD_MAX = 4096  # long enough for any passphrase, short enough that hashing it is cheap


def password_field() -> serializers.CharField:
    """Passwords are taken as typed: DRF would otherwise strip leading and trailing spaces."""
    return serializers.CharField(trim_whitespace=False, max_length=PASSWORD_MAX, write_only=True)


class QuotasOutputSerializer(serializers.Serializer):
    monthly_jobs = serializers.IntegerField(source="monthly_job_quota")
    storage_bytes = serializers.IntegerField(source="storage_quota_bytes")


class ProfileOutputSerializer(serializers.Serializer):
    organization = serializers.CharField()
    institution = serializers.CharField()
    country = serializers.CharField()
    timezone = serializers.CharField()
    email_notifications = serializers.BooleanField()
    quotas = QuotasOutputSerializer(source="*")


class UserOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    is_staff = serializers.BooleanField()
    role = serializers.CharField()
    profile = ProfileOutputSerializer()


def user_body(user: User, profile: Profile | None = None) -> dict[str, Any]:
    profile = profile or user_profile_get(user=user)
    return dict(
        UserOutputSerializer(
            {
                "id": user.pk,
                "username": user.username,
                "email": user.email,
                "first_name": user.first_name,
                "last_name": user.last_name,
                "is_staff": user.is_staff,
                "role": user.role,
                "profile": profile,
            }
        ).data
    )


class ManagedUserOutputSerializer(UserOutputSerializer):
    """A user as user managers see it: the current-user shape plus account state."""

    is_active = serializers.BooleanField()
    date_joined = serializers.DateTimeField()
    last_login = serializers.DateTimeField(allow_null=True)


def managed_user_body(user: User) -> dict[str, Any]:
    profile = getattr(user, "profile", None) or user_profile_get(user=user)
    return dict(ManagedUserOutputSerializer({**user.__dict__, "profile": profile}).data)


def managed_users_body(users: list[User]) -> list[dict[str, Any]]:
    return [managed_user_body(user) for user in users]
