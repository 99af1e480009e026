"""Writes of the notifications context on notifications: creating them (routed by each user's preferences,
pushed and e-mailed after commit) and marking them read."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.kernel.errors import NotFoundError
from apps.notifications.messages import notification_message, read_message
from apps.notifications.models import DB, Channel, Notification
from apps.notifications.push import push_on_commit
from apps.notifications.selectors.notifications import preferences_of, unread_count
from apps.notifications.services.emails import emails_prepare_queue


def notifications_create(
    *,
    user_ids: Iterable[int],
    type: str,
    title: str,
    message: str,
    data: dict[str, Any],
    priority: str,
    dedupe_key: str,
) -> list[Notification]:
    """One notification per user, once per `dedupe_key` (the causing event's id), on the channels each user
    chose for this type; nothing for a user who turned both off. Pushes and e-mail planning follow the commit."""
    with transaction.atomic(using=DB):
        ids = sorted(set(user_ids))
        notified = set(
            Notification.objects.using(DB)
            .filter(user_id__in=ids, dedupe_key=dedupe_key)
            .values_list("user_id", flat=True)
        )
        now = timezone.now()
        rows = [
            Notification(
                user_id=user_id,
                type=type,
                title=title,
                message=message,
                data=data,
                priority=priority,
                created_at=now,
                in_app=preference.wants(type, Channel.WEB),
                email_wanted=preference.wants(type, Channel.EMAIL),
                dedupe_key=dedupe_key,
            )
            for user_id, preference in preferences_of(user_ids=[i for i in ids if i not in notified]).items()
            if preference.wants(type, Channel.WEB) or preference.wants(type, Channel.EMAIL)
        ]
        created = Notification.objects.using(DB).bulk_create(rows)
        push_on_commit([(n.user_id, notification_message(n)) for n in created if n.in_app])
        emailed = sorted({n.user_id for n in created if n.email_wanted})
        if emailed:
            transaction.on_commit(partial(emails_prepare_queue, emailed), using=DB, robust=True)
    return created


def notification_mark_read(*, user_id: int, notification_id: int) -> Notification:
    """Idempotent: a notification keeps its first read time. Another user's id is NotFoundError (404)."""
    with transaction.atomic(using=DB):
        notification = (
            Notification.objects.using(DB)
            .select_for_update()
            .filter(pk=notification_id, user_id=user_id, in_app=True)
            .first()
        )
        if notification is None:
            raise NotFoundError("Not found.")
        if notification.read_at is None:
            notification.read_at = timezone.now()
            notification.save(using=DB, update_fields=["read_at"])
            push_on_commit([(user_id, read_message(ids=[notification.pk], unread_count=unread_count(user_id=user_id)))])
    return notification


def notifications_mark_all_read(*, user_id: int) -> int:
    """How many were unread; the user's other sockets hear of it."""
    with transaction.atomic(using=DB):
        marked = (
            Notification.objects.using(DB)
            .filter(user_id=user_id, in_app=True, read_at__isnull=True)
            .update(read_at=timezone.now())
        )
        if marked:
            push_on_commit([(user_id, read_message(ids=None, unread_count=0))])
    return marked
