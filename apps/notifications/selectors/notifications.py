"""Reads of the notifications context: a user's in-app feed, unread count, catch-up after an id, preferences."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.notifications.models import DB, Notification, NotificationPreference


def _feed(user_id: int) -> QuerySet[Notification]:
    return Notification.objects.using(DB).filter(user_id=user_id, in_app=True)


def notification_list(*, user_id: int, unread: bool | None = None) -> QuerySet[Notification]:
    """Newest first; `unread` True/False keeps unread/read ones only."""
    feed = _feed(user_id)
    if unread is not None:
        feed = feed.filter(read_at__isnull=unread)
    return feed.order_by("-id")


def unread_count(*, user_id: int) -> int:
    return _feed(user_id).filter(read_at__isnull=True).count()


def notifications_after(*, user_id: int, after_id: int, limit: int) -> list[Notification]:
    """What a reconnecting socket missed: the user's notifications created after `after_id`, oldest first."""
    return list(_feed(user_id).filter(pk__gt=after_id).order_by("id")[:limit])


def preference_get(*, user_id: int) -> NotificationPreference:
    """The user's preferences, or the defaults (unsaved) when they never changed them."""
    found = NotificationPreference.objects.using(DB).filter(user_id=user_id).first()
    return found or NotificationPreference(user_id=user_id)


def preferences_of(*, user_ids: list[int]) -> dict[int, NotificationPreference]:
    """Preferences of many users in one query, defaults for those without a row."""
    saved = {pref.user_id: pref for pref in NotificationPreference.objects.using(DB).filter(user_id__in=user_ids)}
    return {user_id: saved.get(user_id) or NotificationPreference(user_id=user_id) for user_id in user_ids}
