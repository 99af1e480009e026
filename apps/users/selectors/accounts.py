"""Reads of the users context about accounts."""

from __future__ import annotations

from apps.users.models import DB, Profile, User


def user_profile_get(*, user: User) -> Profile:
    """The user's profile; an account made outside the services (e.g. `createsuperuser`) reads as the defaults."""
    profile = Profile.objects.using(DB).filter(user=user).first()
    return profile if profile is not None else Profile(user=user)
