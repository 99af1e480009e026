"""Celery tasks of the notifications context: e-mail planning and sending. They take ids, call services, and
are safe to run twice (a delivery is claimed before it is sent; planning is idempotent).

Queued on NOTIFICATIONS_CELERY_QUEUE, so an extracted notifications deployable's worker (which has only the
notifications database) can listen to a queue of its own.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from apps.notifications.services.emails import (
    PREPARE_TASK,
    deliveries_stalled,
    email_delivery_fail,
    email_delivery_release,
    email_delivery_send,
    emails_due_users,
    emails_prepare_queue,
    user_emails_prepare,
)
from apps.users.public import UsersUnavailableError

logger = logging.getLogger(__name__)

DELIVER_RETRIES = 6  # with the default 60 s base: about an hour of backoff before a delivery is given up


@shared_task(
    name=PREPARE_TASK,
    ignore_result=True,
    autoretry_for=(UsersUnavailableError,),
    retry_backoff=30,
    retry_backoff_max=900,
    max_retries=10,
)
def emails_prepare(user_ids: list[int]) -> int:
    """Plan these users' waiting e-mail and send what is due; returns how many deliveries were made. Planning is
    idempotent, so a retry after the users context failed half-way repeats nothing that went out."""
    made = 0
    for user_id in user_ids:
        delivery = user_emails_prepare(user_id=user_id)
        if delivery is not None:
            email_deliver.apply_async(args=(delivery.pk,), queue=settings.NOTIFICATIONS_CELERY_QUEUE)
            made += 1
    return made


@shared_task(bind=True, name="notifications.email_deliver", ignore_result=True, max_retries=DELIVER_RETRIES)
def email_deliver(self: Any, delivery_id: int) -> bool:
    """Send one delivery; a refusing or unreachable mail server is retried with exponential backoff."""
    try:
        return email_delivery_send(delivery_id=delivery_id)
    except OSError as exc:  # smtplib's errors, refused connections and timeouts are all OSErrors
        error = f"{type(exc).__name__}: {exc}"
        retries = int(self.request.retries)
        if retries >= DELIVER_RETRIES:
            logger.error("giving up e-mail delivery %s after %d attempts: %s", delivery_id, retries + 1, error)
            email_delivery_fail(delivery_id=delivery_id, error=error)
            return False
        countdown = min(settings.NOTIFICATIONS_EMAIL_RETRY_SECONDS * 2**retries, 3600)
        email_delivery_release(
            delivery_id=delivery_id, error=error, retry_at=timezone.now() + timedelta(seconds=countdown)
        )
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(name="notifications.emails_due", ignore_result=True, soft_time_limit=50, time_limit=60)
def emails_due() -> dict[str, int]:
    """Every minute (CELERY_BEAT_SCHEDULE): users whose e-mail came due (digests, end of quiet hours, a lost
    planning task) are prepared; deliveries a lost task left pending are sent again."""
    users = emails_due_users()
    emails_prepare_queue(users, retry=True)
    stalled = deliveries_stalled()
    for delivery_id in stalled:
        email_deliver.apply_async(args=(delivery_id,), queue=settings.NOTIFICATIONS_CELERY_QUEUE)
    return {"users": len(users), "deliveries": len(stalled)}
