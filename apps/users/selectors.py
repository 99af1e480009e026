"""Reads of the users context."""

from __future__ import annotations

from apps.users.models import Profile, User


def user_profile_get(*, user: User) -> Profile:
    """The user's profile; an account made outside the services (e.g. `createsuperuser`) reads as the defaults."""
    profile = Profile.objects.using("users").filter(user=user).first()
    return profile if profile is not None else Profile(user=user)
