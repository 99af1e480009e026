"""Password rules of the platform: Django's validators as configured in AUTH_PASSWORD_VALIDATORS (settings)."""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError

from apps.users.models import User


def password_problems(password: str, *, user: User | None = None) -> list[str]:
    """Every validator's message for this password (empty when it is acceptable)."""
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        return list(exc.messages)
    return []
