"""`job_transition`: the only code that changes a job's status, stage or progress.

In one transaction on the jobs database it checks the move against the state machine (apps/jobs/states.py),
appends the JobStatusUpdate row, updates the job's projection, records `job.status.updated` in the outbox and,
for a child of a batch, re-derives the parent's aggregate status the same way. So the history, the job row and
the event never disagree, and a crash leaves either all of them or none.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.jobs.models import DB, ImputationJob, JobStatusUpdate, OutboxEvent, Stage, Status
from apps.jobs.states import ACTIVE, STAGE_ORDER, TERMINAL, status_of, transition_check
from apps.kernel.envelope import JOB_STATUS_UPDATED, NOTIFICATION_SEND, USER_ACTION_LOGGED
from apps.kernel.outbox import outbox_record
from apps.kernel.timestamps import timestamp
from apps.notifications.public import NotificationType, Priority, notification_send_payload

MESSAGE_MAX = 4000


def job_transition(
    job: ImputationJob,
    *,
    stage: str,
    status: str | None = None,
    progress: int | None = None,
    message: str = "",
    remote_state: str = "",
    failure_category: str = "",
    failure_message: str = "",
    **fields: Any,
) -> bool:
    """Move `job` (locked and re-read here) to `stage` (and `status`, derived from the stage when None).

    `fields` are other columns to set in the same save (external_job_id, results, retire_at ...). Returns False,
    changing nothing, when the job is already exactly there with the same progress and message (a repeated poll);
    raises TransitionError for a move the state machine forbids.
    """
    to_status = status or status_of(stage)
    with transaction.atomic(using=DB):
        current = ImputationJob.objects.using(DB).select_for_update().get(pk=job.pk)
        to_progress = _progress(current, to_status=to_status, progress=progress)
        unchanged = (
            current.status == to_status
            and current.stage == stage
            and current.progress == to_progress
            and (not message or message == current.message)
        )
        if unchanged:
            _fields_save(current, fields)
            _refresh(job, current)
            return False
        transition_check(status=current.status, stage=current.stage, to_status=to_status, to_stage=stage)
        previous_status = current.status
        now = timezone.now()
        current.status, current.stage, current.progress = to_status, stage, to_progress
        if message or failure_message:  # a failure without a step message still says why, not what came before
            current.message = (message or failure_message)[:MESSAGE_MAX]
        if to_status == Status.RUNNING and current.started_at is None:
            current.started_at = now
        if to_status in TERMINAL:
            current.completed_at = now
            current.next_action_at = None
            current.queue_position = None
        if failure_category:
            current.failure_category = failure_category
            current.failure_message = (failure_message or message)[:MESSAGE_MAX]
        for name, value in fields.items():
            setattr(current, name, value)
        current.save(using=DB)
        JobStatusUpdate.objects.using(DB).create(
            job=current,
            status=to_status,
            stage=stage,
            progress=to_progress,
            message=(failure_message or message)[:MESSAGE_MAX],
            remote_state=remote_state,
            created_at=now,
        )
        _event_record(current, previous_status=previous_status, message=failure_message or message)
        if current.parent_id is not None:
            batch_aggregate(current.parent_id)
    _refresh(job, current)
    return True


def job_fail(job: ImputationJob, *, category: str, message: str, **fields: Any) -> bool:
    """End the job as failed at the stage it reached, with a failure category and the message users act on."""
    return job_transition(
        job, stage=job.stage, status=Status.FAILED, failure_category=category, message=message, **fields
    )


def job_cancelled(job: ImputationJob, *, message: str, **fields: Any) -> bool:
    """End the job as cancelled at the stage it reached."""
    return job_transition(job, stage=job.stage, status=Status.CANCELLED, message=message, **fields)


def job_status_payload(job: ImputationJob, *, previous_status: str | None, message: str) -> dict[str, Any]:
    """The payload of `job.status.updated`, which notifications, monitoring and the registry consume."""
    return {
        "job_id": str(job.id),
        "user_id": job.owner_id,
        "service_id": job.service_id,
        "panel_id": job.panel_id,
        "parent_id": str(job.parent_id) if job.parent_id else None,
        "name": job.name,
        "status": job.status,
        "stage": job.stage,
        "progress": job.progress,
        "previous_status": previous_status,
        "failure_category": job.failure_category or None,
        "message": message[:500],
        "created_at": timestamp(job.created_at),
        "started_at": timestamp(job.started_at),
        "completed_at": timestamp(job.completed_at),
        "occurred_at": timestamp(timezone.now()),
    }


def job_action_record(job: ImputationJob, *, action: str, actor_id: int | None, **details: Any) -> None:
    """An audit event (user.action.logged) about a job; runs inside the transaction of the action."""
    outbox_record(
        outbox=OutboxEvent,
        topic=USER_ACTION_LOGGED,
        aggregate_id=str(job.id),
        payload={
            "actor_id": actor_id,
            "action": action,
            "resource_type": "job",
            "resource_id": str(job.id),
            "ip": details.pop("ip", ""),
            "user_agent": details.pop("user_agent", ""),
            "details": {"service_id": job.service_id, **details},
        },
    )


def job_owner_notify(job: ImputationJob, *, title: str, message: str, priority: str = Priority.HIGH) -> None:
    """A notification to the job's owner (notification.send), inside the current transaction."""
    outbox_record(
        outbox=OutboxEvent,
        topic=NOTIFICATION_SEND,
        aggregate_id=str(job.id),
        payload=notification_send_payload(
            user_ids=[job.owner_id],
            type=NotificationType.JOB_UPDATE,
            title=title[:200],
            message=message,
            data={"job_id": str(job.id), "service_id": job.service_id},
            priority=priority,
        ),
    )


def batch_aggregate(parent_id: Any) -> None:
    """Re-derive a batch parent's status from its children (inside the caller's transaction).

    Active while any child is active (running once one runs, else queued); when all have finished: completed if
    all completed, cancelled if all were cancelled, otherwise failed (the children say which failed why).
    Progress is the mean of the children's.
    """
    parent = ImputationJob.objects.using(DB).select_for_update().get(pk=parent_id)
    if parent.status in TERMINAL:
        return
    children = list(ImputationJob.objects.using(DB).filter(parent_id=parent_id).values_list("status", "progress"))
    if not children:
        return
    statuses = [child_status for child_status, _ in children]
    progress = round(sum(child_progress for _, child_progress in children) / len(children))
    if any(child_status in ACTIVE for child_status in statuses):
        started = Status.RUNNING in statuses or parent.status == Status.RUNNING
        job_transition(parent, stage=Stage.RUNNING if started else Stage.QUEUED, progress=progress)
        return
    completed = sum(child_status == Status.COMPLETED for child_status in statuses)
    if completed == len(statuses):
        for stage in (Stage.RUNNING, Stage.DOWNLOADING, Stage.DONE):
            if STAGE_ORDER.index(Stage(parent.stage)) <= STAGE_ORDER.index(stage):
                job_transition(parent, stage=stage, progress=progress)
        return
    cancelled = all(child_status == Status.CANCELLED for child_status in statuses)
    job_transition(
        parent,
        stage=parent.stage,
        status=Status.CANCELLED if cancelled else Status.FAILED,
        progress=progress,
        message=f"{completed} of {len(statuses)} targets completed.",
        failure_category="" if cancelled else "remote_pipeline",
    )


def _progress(current: ImputationJob, *, to_status: str, progress: int | None) -> int:
    if to_status == Status.COMPLETED:
        return 100
    if progress is None:
        return current.progress
    return max(0, min(100, int(progress)))


def _event_record(job: ImputationJob, *, previous_status: str | None, message: str) -> None:
    outbox_record(
        outbox=OutboxEvent,
        topic=JOB_STATUS_UPDATED,
        aggregate_id=str(job.id),
        payload=job_status_payload(job, previous_status=previous_status, message=message),
    )


def _fields_save(current: ImputationJob, fields: dict[str, Any]) -> None:
    if fields:
        for name, value in fields.items():
            setattr(current, name, value)
        current.save(using=DB, update_fields=[*fields, "updated_at"])


def _refresh(job: ImputationJob, current: ImputationJob) -> None:
    """The caller's instance sees what was saved, so it can go on without re-reading."""
    for field in ImputationJob._meta.concrete_fields:
        setattr(job, field.attname, getattr(current, field.attname))
