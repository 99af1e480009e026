"""How the notifications context reacts to other contexts' events (registered in consumers.py). Each runs inside
the consumer's transaction on the notifications database, together with its inbox row.

- `job.status.updated` {job_id, service_id, user_id, status, stage?, progress?, name?, message?}: the job's owner
  always gets a `job.status` push (unless the event is older than the status already known); a transition to a
  status in NOTIFICATIONS_JOB_STATUSES (completed, failed, cancelled by default) also makes a notification.
- `service.health.changed` {service_id, slug, name, previous, status, message?}: when a service goes down
  (to unhealthy or timeout from anything else) or comes back (healthy after unhealthy or timeout), its
  audience is notified: the users context's `service_audience` (admins, service admins, users granted on the
  service directly or by group) plus the owners of jobs still active there (this context's job states).
  Flapping between two failure states and a new service's first healthy check notify nobody.
- `notification.send` (apps.notifications.public): one notification per listed user.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from apps.kernel.envelope import Envelope, EnvelopeError
from apps.notifications.messages import job_status_message
from apps.notifications.models import DB, JobState
from apps.notifications.public import NotificationType, Priority, notification_send_payload
from apps.notifications.push import push_on_commit
from apps.notifications.recipients import service_audience
from apps.notifications.services.notifications import notifications_create

ACTIVE_JOB_STATUSES = ("pending", "queued", "running")
DOWN = frozenset({"unhealthy", "timeout"})
LABEL_MAX = 150
# status -> (how the title ends, the message, priority)
JOB_NEWS: dict[str, tuple[str, str, str]] = {
    "completed": ("completed", "Your job finished; its results are ready to download.", Priority.NORMAL),
    "failed": ("failed", "Your job failed.", Priority.HIGH),
    "cancelled": ("was cancelled", "Your job was cancelled.", Priority.NORMAL),
    "running": ("is running", "Your job started running on the service.", Priority.LOW),
}
SEND_FIELDS = ("user_ids", "type", "title", "message", "data", "priority")


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def job_state_record(*, job_id: str, user_id: int, service_id: int, status: str, event: Envelope) -> bool:
    """Project the job's latest status; False when this event is older than the one already applied."""
    current = JobState.objects.using(DB).select_for_update().filter(job_id=job_id).first()
    if current is None:
        JobState.objects.using(DB).create(
            job_id=job_id, user_id=user_id, service_id=service_id, status=status, event_at=event.occurred_at
        )
        return True
    if event.occurred_at < current.event_at:
        return False
    current.user_id, current.service_id, current.status, current.event_at = (
        user_id,
        service_id,
        status,
        event.occurred_at,
    )
    current.save(using=DB)
    return True


def job_status_apply(*, envelope: Envelope) -> None:
    payload = envelope.payload
    try:
        job_id, status = str(payload["job_id"]), str(payload["status"])
        service_id, user_id = int(payload["service_id"]), int(payload["user_id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EnvelopeError(f"job.status.updated needs job_id, service_id, user_id and status: {exc}") from exc
    stage = str(payload["stage"]) if payload.get("stage") else None
    progress = _int_or_none(payload.get("progress"))
    with transaction.atomic(using=DB):
        if not job_state_record(job_id=job_id, user_id=user_id, service_id=service_id, status=status, event=envelope):
            return
        push_on_commit([(user_id, job_status_message(job_id=job_id, status=status, stage=stage, progress=progress))])
        if status not in settings.NOTIFICATIONS_JOB_STATUSES or status not in JOB_NEWS:
            return
        ending, text, priority = JOB_NEWS[status]
        label = str(payload.get("name") or job_id)[:LABEL_MAX]
        detail = str(payload.get("message") or "").strip()
        notifications_create(
            user_ids=[user_id],
            type=NotificationType.JOB_UPDATE,
            title=f'Job "{label}" {ending}',
            message=f"{text} {detail}" if detail else text,
            data={"job_id": job_id, "service_id": service_id, "status": status, "stage": stage, "progress": progress},
            priority=priority,
            dedupe_key=str(envelope.id),
        )


def service_health_apply(*, envelope: Envelope) -> None:
    payload = envelope.payload
    try:
        service_id, previous, status = int(payload["service_id"]), str(payload["previous"]), str(payload["status"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EnvelopeError(f"service.health.changed needs service_id, previous and status: {exc}") from exc
    went_down = status in DOWN and previous not in DOWN
    came_back = status == "healthy" and previous in DOWN
    if not (went_down or came_back):
        return
    name = str(payload.get("name") or payload.get("slug") or f"Service {service_id}")
    audience = set(service_audience(service_id))
    audience.update(
        JobState.objects.using(DB)
        .filter(service_id=service_id, status__in=ACTIVE_JOB_STATUSES)
        .values_list("user_id", flat=True)
    )
    if went_down:
        detail = str(payload.get("message") or "").strip()
        title, priority = f"{name} is unavailable", Priority.HIGH
        message = f"{name} stopped answering health checks ({status})." + (f" {detail}" if detail else "")
    else:
        title, priority = f"{name} is available again", Priority.NORMAL
        message = f"{name} answers health checks again."
    notifications_create(
        user_ids=audience,
        type=NotificationType.SERVICE_ALERT,
        title=title,
        message=message,
        data={"service_id": service_id, "slug": payload.get("slug"), "previous": previous, "status": status},
        priority=priority,
        dedupe_key=str(envelope.id),
    )


def notification_send_apply(*, envelope: Envelope) -> None:
    fields = {name: envelope.payload[name] for name in SEND_FIELDS if name in envelope.payload}
    try:
        payload = notification_send_payload(**fields)
    except (TypeError, ValueError) as exc:
        raise EnvelopeError(f"notification.send payload is invalid: {exc}") from exc
    notifications_create(**payload, dedupe_key=str(envelope.id))
