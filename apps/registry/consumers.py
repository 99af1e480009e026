"""Events the registry reacts to: job status changes, kept as a per-service projection of job states."""

from __future__ import annotations

from datetime import datetime

from apps.kernel.consumers import consumer
from apps.kernel.envelope import JOB_STATUS_UPDATED, Envelope, EnvelopeError
from apps.registry.models import DB, InboxEntry, ServiceJob


@consumer(name="registry.service_jobs", topic=JOB_STATUS_UPDATED, inbox=InboxEntry)
def service_jobs_project(envelope: Envelope) -> None:
    """payload: {job_id, service_id, user_id?, status}; a child of a batch counts on its own service."""
    payload = envelope.payload
    try:
        job_id, service_id, status = str(payload["job_id"]), int(payload["service_id"]), str(payload["status"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EnvelopeError(f"job.status.updated needs job_id, service_id and status: {exc}") from exc
    user_id = payload.get("user_id")
    event_at: datetime = envelope.occurred_at
    current = ServiceJob.objects.using(DB).select_for_update().filter(job_id=job_id).first()
    if current is None:
        ServiceJob.objects.using(DB).create(
            job_id=job_id, service_id=service_id, user_id=user_id, status=status, event_at=event_at
        )
    elif current.event_at <= event_at:
        current.service_id, current.status, current.event_at = service_id, status, event_at
        current.save(using=DB)
