"""Persistent state of the notifications context (its own database alias): notifications, preferences, e-mail
deliveries, and the job states this context keeps from `job.status.updated` events."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from apps.kernel.outbox import InboxEntryBase, OutboxEventBase
from apps.notifications.public import NotificationType, Priority

DB = "notifications"  # the alias of this context: every query and transaction of apps.notifications names it


class OutboxEvent(OutboxEventBase):
    """Events of this context waiting for the relay, written in the same transaction as the change."""


class InboxEntry(InboxEntryBase):
    """Events this context's consumers have applied, so each effect happens once."""


class Channel(models.TextChoices):
    WEB = "web", "In the app (list, bell and live push)"
    EMAIL = "email", "E-mail"


class Digest(models.TextChoices):
    IMMEDIATE = "immediate"
    HOURLY = "hourly"
    DAILY = "daily"


# what a user gets before saying otherwise: everything in the app; e-mail for their jobs, security and system
# messages, not for service health (a flapping service would flood the inbox of everyone using it)
DEFAULT_CHANNELS: dict[str, dict[str, bool]] = {
    NotificationType.JOB_UPDATE: {Channel.WEB: True, Channel.EMAIL: True},
    NotificationType.SERVICE_ALERT: {Channel.WEB: True, Channel.EMAIL: False},
    NotificationType.SECURITY: {Channel.WEB: True, Channel.EMAIL: True},
    NotificationType.SYSTEM: {Channel.WEB: True, Channel.EMAIL: True},
}


def default_channels() -> dict[str, dict[str, bool]]:
    return {kind: dict(switches) for kind, switches in DEFAULT_CHANNELS.items()}


class NotificationPreference(models.Model):
    """How one user wants to hear from the platform; a user without a row has the defaults.

    Quiet hours are wall-clock times in the user's time zone (their profile's, asked of the users context when
    an e-mail is due): e-mail falling inside them waits until they end. They may wrap midnight (22:00-07:00).
    """

    user_id = models.PositiveBigIntegerField(unique=True)
    channels = models.JSONField(default=default_channels)  # {type: {web: bool, email: bool}}, every type present
    digest = models.CharField(max_length=16, choices=Digest.choices, default=Digest.IMMEDIATE)
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quiet_hours_start__isnull=True, quiet_hours_end__isnull=True)
                | models.Q(quiet_hours_start__isnull=False, quiet_hours_end__isnull=False),
                name="notifications_quiet_hours_both_or_neither",
            )
        ]

    def __str__(self) -> str:
        return f"preferences of user {self.user_id}"

    def wants(self, kind: str, channel: str) -> bool:
        switches: dict[str, Any] = self.channels.get(kind) or DEFAULT_CHANNELS.get(kind, {})
        return bool(switches.get(channel, False))


class EmailDeliveryKind(models.TextChoices):
    SINGLE = "single"  # one notification
    DIGEST = "digest"  # several: an hourly or daily digest, or what waited out quiet hours


class EmailDeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"  # the user has no address, is inactive or turned e-mail off in their profile
    FAILED = "failed"  # the mail server kept refusing it


class EmailDelivery(models.Model):
    """One e-mail to one user, covering one or more notifications; the unit that is retried and audited.

    A sender claims it by moving `claimed_until` forward (compare-and-set), so two workers never send it at the
    same time; a sender that dies after sending but before recording it leaves the claim to lapse and the mail
    goes again (at least once, never lost).
    """

    user_id = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=16, choices=EmailDeliveryKind.choices)
    digest = models.CharField(max_length=16, choices=Digest.choices)  # the user's setting when it was put together
    status = models.CharField(max_length=16, choices=EmailDeliveryStatus.choices, default=EmailDeliveryStatus.PENDING)
    to_address = models.EmailField(blank=True, default="")
    recipient_name = models.CharField(max_length=150, blank=True, default="")
    time_zone = models.CharField(max_length=64, default="UTC")  # shows the notifications' times as the user's
    created_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(status="pending"),
                name="notifications_delivery_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} e-mail to user {self.user_id}: {self.status}"


class Notification(models.Model):
    """One message to one user. `dedupe_key` (the causing event's id) makes an event notify a user once.

    `in_app` is the web channel: only such notifications are listed, counted and pushed. E-mail: `email_wanted`
    at creation; `email_due_at` is planned by the e-mail task (digest boundary, end of quiet hours); the
    notification joins an `email_delivery` when it goes out, and `sent_at` records when that e-mail was sent.
    """

    user_id = models.PositiveBigIntegerField()
    type = models.CharField(max_length=32, choices=NotificationType.choices)
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    in_app = models.BooleanField(default=True)
    email_wanted = models.BooleanField(default=False)
    email_due_at = models.DateTimeField(null=True, blank=True)
    email_delivery = models.ForeignKey(
        EmailDelivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user_id", "dedupe_key"], name="notifications_once_per_user")]
        indexes = [
            models.Index(fields=["user_id", "id"], name="notifications_user_feed"),
            models.Index(
                fields=["user_id"],
                condition=models.Q(in_app=True, read_at__isnull=True),
                name="notifications_user_unread",
            ),
            models.Index(
                fields=["email_due_at"],
                condition=models.Q(email_wanted=True, email_delivery__isnull=True),
                name="notifications_email_waiting",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} for user {self.user_id}: {self.title}"


class JobState(models.Model):
    """The latest known status of each job, projected from `job.status.updated`: whose it is and on which service.

    Service alerts reach the users with active jobs on the service without asking the jobs context; `event_at`
    orders the events, so a late one neither rolls a job back nor pushes a stale status to its owner.
    """

    job_id = models.CharField(max_length=64, unique=True)
    user_id = models.PositiveBigIntegerField()
    service_id = models.PositiveBigIntegerField()
    status = models.CharField(max_length=32)
    event_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["service_id", "status"], name="notifications_service_jobs")]

    def __str__(self) -> str:
        return f"job {self.job_id} of user {self.user_id}: {self.status}"
