"""Event consumers of the monitoring context; the kernel imports this module at start-up to register them. What
each one does is in apps/monitoring/services/projections.py.

All three read their streams from the start (`from_start=True`): the projections are history, so a first
deployment catches up on whatever the streams still hold, and replays are harmless (the inbox and the occurred_at
ordering make them no-ops).
"""

from __future__ import annotations

from apps.kernel.consumers import consumer
from apps.kernel.envelope import FILE_UPLOAD_COMPLETED, JOB_STATUS_UPDATED, SERVICE_HEALTH_CHANGED, Envelope
from apps.monitoring.models import InboxEntry
from apps.monitoring.services.projections import job_fact_apply, service_state_apply, upload_fact_apply


@consumer(name="monitoring.job_facts", topic=JOB_STATUS_UPDATED, inbox=InboxEntry)
def job_facts_project(envelope: Envelope) -> None:
    """Every job's latest state: dashboard, analytics, job metrics and the failure-rate rule read it."""
    job_fact_apply(envelope=envelope)


@consumer(name="monitoring.service_states", topic=SERVICE_HEALTH_CHANGED, inbox=InboxEntry)
def service_states_project(envelope: Envelope) -> None:
    """Each external service's health: the health report, service metrics and the service-down rule read it."""
    service_state_apply(envelope=envelope)


@consumer(name="monitoring.upload_facts", topic=FILE_UPLOAD_COMPLETED, inbox=InboxEntry)
def upload_facts_project(envelope: Envelope) -> None:
    """Completed uploads and their sizes, for the upload-bytes metric."""
    upload_fact_apply(envelope=envelope)
