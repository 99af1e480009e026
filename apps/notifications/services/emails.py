"""E-mail of the notifications context: when each notification's e-mail is due (digest, quiet hours), bundling
what is due into one delivery per user, and sending a delivery through Django's e-mail backend.

A notification that wants e-mail commits -> `notifications.emails_prepare(users)` plans its due time in the
user's time zone and bundles whatever is due into an EmailDelivery -> `notifications.email_deliver(delivery)`
sends it, retrying with backoff. Every minute `notifications.emails_due` (beat) prepares the users whose e-mail
came due since (hourly and daily digests, quiet hours ending) and re-queues what a lost task left behind. Due
times are per user, on their wall clock, so one sweep serves every time zone, where a fixed crontab could not.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from apps.notifications.models import (
    DB,
    Channel,
    Digest,
    EmailDelivery,
    EmailDeliveryKind,
    EmailDeliveryStatus,
    Notification,
)
from apps.notifications.public import Priority
from apps.notifications.recipients import recipient_get
from apps.notifications.selectors.notifications import preference_get
from apps.notifications.timing import digest_due, quiet_until, zone_of
from apps.users.public import UserInfo

LEASE = timedelta(minutes=5)  # how long a sender owns a delivery it claimed
STALE = timedelta(minutes=10)  # waiting this long with no task on it: the task was lost (broker outage)
ERROR_MAX = 500
PREPARE_CHUNK = 100  # users planned by one task
PREPARE_TASK = "notifications.emails_prepare"  # apps/notifications/tasks.py, registered when the app is ready
DIGEST_TITLES: dict[str, str] = {Digest.HOURLY: "Your hourly digest", Digest.DAILY: "Your daily digest"}


def emails_prepare_queue(user_ids: Iterable[int], *, retry: bool = False) -> None:
    """Queue the e-mail planning of these users, PREPARE_CHUNK to a task (a fan-out to thousands of users costs
    a few broker messages, not thousands). After a commit, without publish retries: with the broker down this
    fails fast, and `emails_due` picks the users up once it is back."""
    prepare = current_app.tasks[PREPARE_TASK]  # by name: services never import the tasks that call them
    ids = list(user_ids)
    for start in range(0, len(ids), PREPARE_CHUNK):
        chunk = ids[start : start + PREPARE_CHUNK]
        prepare.apply_async(args=(chunk,), queue=settings.NOTIFICATIONS_CELERY_QUEUE, retry=retry)


def _undeliverable(recipient: UserInfo | None) -> str:
    if recipient is None:
        return "the user no longer exists"
    if not recipient.is_active:
        return "the account is deactivated"
    if not recipient.email:
        return "the account has no e-mail address"
    if not recipient.email_notifications:
        return "e-mail notifications are turned off in the profile"
    return ""


def _attach(rows: list[Notification], delivery: EmailDelivery) -> None:
    Notification.objects.using(DB).filter(pk__in=[row.pk for row in rows]).update(email_delivery=delivery)


def _kind(rows: list[Notification]) -> str:
    return EmailDeliveryKind.SINGLE if len(rows) == 1 else EmailDeliveryKind.DIGEST


def user_emails_prepare(*, user_id: int, now: datetime | None = None) -> EmailDelivery | None:
    """Plan the user's waiting e-mail and bundle what is due now into one pending delivery (None: nothing due).

    Read at this point, not when the notifications were made: the user's address, time zone and e-mail switch
    (users context) and their preferences, so a change takes effect on e-mail not yet sent. Quiet hours defer
    (never drop) all but urgent notifications to the end of the window.
    """
    now = now or timezone.now()
    waiting = Notification.objects.using(DB).filter(user_id=user_id, email_wanted=True, email_delivery__isnull=True)
    if not waiting.exists():
        return None
    recipient = recipient_get(user_id)  # before the transaction: it may be an HTTP call
    preference = preference_get(user_id=user_id)
    with transaction.atomic(using=DB):
        rows = list(waiting.select_for_update().order_by("id"))
        reason = _undeliverable(recipient)
        if rows and reason:
            skipped = EmailDelivery.objects.using(DB).create(
                user_id=user_id,
                kind=_kind(rows),
                digest=preference.digest,
                status=EmailDeliveryStatus.SKIPPED,
                error=reason,
                created_at=now,
            )
            _attach(rows, skipped)
            return None
        if not rows or recipient is None:
            return None
        unwanted = [row.pk for row in rows if not preference.wants(row.type, Channel.EMAIL)]  # turned off since
        Notification.objects.using(DB).filter(pk__in=unwanted).update(email_wanted=False)
        rows = [row for row in rows if row.pk not in unwanted]
        zone = zone_of(recipient.timezone)
        for row in rows:
            if row.email_due_at is None:
                row.email_due_at = digest_due(
                    created_at=row.created_at,
                    digest=preference.digest,
                    zone=zone,
                    daily_hour=settings.NOTIFICATIONS_DIGEST_HOUR,
                )
        due = [row for row in rows if row.email_due_at is not None and row.email_due_at <= now]
        quiet_end = quiet_until(now=now, zone=zone, start=preference.quiet_hours_start, end=preference.quiet_hours_end)
        if quiet_end is not None:
            for row in due:
                if row.priority != Priority.URGENT:
                    row.email_due_at = quiet_end
            due = [row for row in due if row.priority == Priority.URGENT]
        Notification.objects.using(DB).bulk_update(rows, ["email_due_at"])
        if not due:
            return None
        delivery = EmailDelivery.objects.using(DB).create(
            user_id=user_id,
            kind=_kind(due),
            digest=preference.digest,
            to_address=recipient.email,
            recipient_name=recipient.first_name or recipient.username,
            time_zone=recipient.timezone,
            created_at=now,
        )
        _attach(due, delivery)
    return delivery


def email_message_build(*, delivery: EmailDelivery, notifications: list[Notification]) -> EmailMultiAlternatives:
    """Plain text and HTML alternatives from the templates under notifications/email/."""
    digest = delivery.kind == EmailDeliveryKind.DIGEST
    prefix = settings.NOTIFICATIONS_EMAIL_SUBJECT_PREFIX
    if digest:
        title = DIGEST_TITLES.get(delivery.digest, "New notifications")
        subject = f"{prefix}{title}: {len(notifications)} notifications"
    else:
        subject = f"{prefix}{notifications[0].title}"
    context = {
        "name": delivery.recipient_name,
        "notifications": notifications,
        "digest": digest,
        "zone": delivery.time_zone,
        "link": f"{settings.NOTIFICATIONS_UI_URL.rstrip('/')}/notifications",
        "settings_link": f"{settings.NOTIFICATIONS_UI_URL.rstrip('/')}/settings",
    }
    mail = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("notifications/email/message.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.to_address],
    )
    mail.attach_alternative(render_to_string("notifications/email/message.html", context), "text/html")
    return mail


def email_delivery_send(*, delivery_id: int, now: datetime | None = None) -> bool:
    """Send one pending delivery; False when there was nothing to do (sent or given up already, or another
    sender holds it). Errors of the e-mail backend propagate, with the delivery still claimed."""
    now = now or timezone.now()
    claimed = (
        EmailDelivery.objects.using(DB)
        .filter(pk=delivery_id, status=EmailDeliveryStatus.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .update(claimed_until=now + LEASE, attempts=F("attempts") + 1)
    )
    if not claimed:
        return False
    delivery = EmailDelivery.objects.using(DB).get(pk=delivery_id)
    notifications = list(Notification.objects.using(DB).filter(email_delivery=delivery).order_by("id"))
    if not notifications:
        EmailDelivery.objects.using(DB).filter(pk=delivery_id).update(
            status=EmailDeliveryStatus.SKIPPED, claimed_until=None, error="its notifications were deleted"
        )
        return False
    email_message_build(delivery=delivery, notifications=notifications).send()
    sent_at = timezone.now()
    with transaction.atomic(using=DB):
        EmailDelivery.objects.using(DB).filter(pk=delivery_id).update(
            status=EmailDeliveryStatus.SENT, sent_at=sent_at, claimed_until=None, error=""
        )
        Notification.objects.using(DB).filter(email_delivery_id=delivery_id).update(sent_at=sent_at)
    return True


def email_delivery_release(*, delivery_id: int, error: str, retry_at: datetime) -> None:
    """A failed attempt: nobody claims the delivery before `retry_at`, when its task's retry runs."""
    EmailDelivery.objects.using(DB).filter(pk=delivery_id, status=EmailDeliveryStatus.PENDING).update(
        claimed_until=retry_at, error=error[:ERROR_MAX]
    )


def email_delivery_fail(*, delivery_id: int, error: str) -> None:
    """Retries are exhausted; the delivery stays on record as failed (admin) and is not tried again."""
    EmailDelivery.objects.using(DB).filter(pk=delivery_id, status=EmailDeliveryStatus.PENDING).update(
        status=EmailDeliveryStatus.FAILED, claimed_until=None, error=error[:ERROR_MAX]
    )


def emails_due_users(*, now: datetime | None = None) -> list[int]:
    """Users with e-mail due: planned for now or earlier, or never planned although made a while ago."""
    now = now or timezone.now()
    waiting = Notification.objects.using(DB).filter(email_wanted=True, email_delivery__isnull=True)
    due = waiting.filter(Q(email_due_at__lte=now) | Q(email_due_at__isnull=True, created_at__lte=now - STALE))
    return sorted(set(due.values_list("user_id", flat=True)))


def deliveries_stalled(*, now: datetime | None = None) -> list[int]:
    """Pending deliveries nobody holds any more (their task was lost, or a sender died mid-way)."""
    now = now or timezone.now()
    pending = EmailDelivery.objects.using(DB).filter(status=EmailDeliveryStatus.PENDING, created_at__lte=now - STALE)
    free = pending.filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
    return list(free.order_by("pk").values_list("pk", flat=True))
