"""Event consumers of the notifications context; the kernel imports this module at start-up to register them.
What each one does is in apps/notifications/services/events.py.

Job and health news start from the moment the consumer group is first created (`from_start=False`): a first
deployment must not replay the stream's history as fresh notifications and e-mails. `notification.send` is an
explicit request, honoured even when it was published before the consumer first ran.
"""

from __future__ import annotations

from apps.kernel.consumers import consumer
from apps.kernel.envelope import JOB_STATUS_UPDATED, NOTIFICATION_SEND, SERVICE_HEALTH_CHANGED, Envelope
from apps.notifications.models import InboxEntry
from apps.notifications.services.events import job_status_apply, notification_send_apply, service_health_apply


@consumer(name="notifications.job_status", topic=JOB_STATUS_UPDATED, inbox=InboxEntry, from_start=False)
def job_status_notify(envelope: Envelope) -> None:
    """Live job status for the owner's sockets, and a notification when a job finishes, fails or is cancelled."""
    job_status_apply(envelope=envelope)


@consumer(name="notifications.service_health", topic=SERVICE_HEALTH_CHANGED, inbox=InboxEntry, from_start=False)
def service_health_notify(envelope: Envelope) -> None:
    """A service went down or came back: tell the people who use or run it."""
    service_health_apply(envelope=envelope)


@consumer(name="notifications.send", topic=NOTIFICATION_SEND, inbox=InboxEntry)
def notification_send(envelope: Envelope) -> None:
    """Other contexts' notifications (e.g. monitoring alerts to admins)."""
    notification_send_apply(envelope=envelope)
