"""Driving jobs forward on Celery without a task ever waiting for a remote job (ARCHITECTURE.md §6).

`job_advance`, run under the lease the dispatcher (services/dispatch.py) claimed, looks at the job's stage and
does the one next step: submit, reconcile a submit whose outcome is unknown, send a cancel, poll, or fetch
results; then it sets when the job is next due.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.connectors import states as remote
from apps.connectors.public import (
    ConfigurationError,
    Connector,
    ConnectorError,
    CredentialError,
    NotFoundError,
    RemoteStatus,
    RemoteUnavailableError,
)
from apps.jobs.models import DB, ImputationJob, Stage, Status
from apps.jobs.services.dispatch import job_reschedule, jobs_dispatch, lease_kept
from apps.jobs.services.jobs import job_inputs_settle
from apps.jobs.services.logs import job_logs_store
from apps.jobs.services.results import job_results_fetch
from apps.jobs.services.submission import SubmitOutcome, job_submit, job_submit_reconcile
from apps.jobs.services.transitions import job_cancelled, job_fail, job_owner_notify, job_transition
from apps.jobs.states import ACTIVE, STAGE_ORDER, TERMINAL
from apps.registry.public import ServiceRecord, connector_of, get_registry_service
from apps.users.public import CredentialExpiredError, CredentialMissingError, UsersError, get_users_service

logger = logging.getLogger(__name__)
poll_logger = logging.getLogger("apps.jobs.polls")

POLLED_STAGES = (Stage.SUBMITTED, Stage.RUNNING, Stage.EXPORTING)
PROGRESS_OF = {Stage.SUBMITTED: 5, Stage.RUNNING: 30, Stage.EXPORTING: 80, Stage.DOWNLOADING: 90}
SEEN_MAX = 200


class PausedForAuth(Exception):
    """The owner's token for the service is missing, expired or refused: the job waits for a new one."""


# --- dispatch and leases -------------------------------------------------------------------------------------


def job_advance(*, job_id: str, lease_token: str) -> None:
    """The task body: one step for one job, under the lease the dispatcher claimed for this very message."""
    job = ImputationJob.objects.using(DB).filter(pk=job_id, lease_token=lease_token).first()
    if job is None or job.status in TERMINAL:
        return  # a stale message (another worker owns the job now) or nothing left to do
    try:
        with lease_kept(job.pk, lease_token):
            _step(job)
    except Exception:
        logger.exception("job %s: unexpected error in stage %s", job.pk, job.stage)
        job.refresh_from_db(using=DB)
        if job.status not in TERMINAL:
            job_reschedule(job, backoff=True)
    finally:
        ImputationJob.objects.using(DB).filter(pk=job_id, lease_token=lease_token).update(
            lease_until=None, lease_token=""
        )
    _slot_pass_on(job)


def _slot_pass_on(job: ImputationJob) -> None:
    """This job's slot of its service is free again: hand it to that service's next due job now, not at the next
    beat (the beat would cap each service at JOBS_SERVICE_CONCURRENCY calls per JOBS_DISPATCH_SECONDS)."""
    if job.service_id is None:
        return
    try:
        jobs_dispatch(service_id=job.service_id, limit=1)
    except Exception:  # the beat hands it out anyway; this is only a shortcut
        logger.exception("jobs: passing the slot of service %s on failed", job.service_id)


def jobs_reconcile() -> int:
    """The safety net: an active job that nobody will look at again (no next action, not waiting on anything) is
    made due now. Returns how many were repaired; overdue jobs are picked up by the dispatcher anyway."""
    now = timezone.now()
    active = ImputationJob.objects.using(DB).filter(service_id__isnull=False, next_action_at__isnull=True)
    stranded = active.filter(status__in=(Status.QUEUED, Status.RUNNING), auth_paused=False)
    # a pending job waits for its files' verdict event; if that was lost, look at the files again after a while
    waiting = active.filter(status=Status.PENDING, updated_at__lt=now - timedelta(minutes=10))
    repaired = stranded.update(next_action_at=now) + waiting.update(next_action_at=now)
    retry_auth = now - timedelta(seconds=settings.JOBS_AUTH_RETRY_SECONDS)
    repaired += (
        ImputationJob.objects.using(DB)
        .filter(status__in=ACTIVE, auth_paused=True, updated_at__lt=retry_auth)
        .update(auth_paused=False, next_action_at=now)
    )
    if repaired:
        logger.warning("jobs reconcile: %d stranded jobs made due", repaired)
    _spool_sweep()
    return repaired


def _spool_sweep() -> None:
    """Spool folders left by a worker killed mid-transfer (its lease long gone); the files are copies."""
    root = settings.JOBS_SPOOL_DIR
    if not root.is_dir():
        return
    stale = time.time() - max(24 * 3600, 4 * settings.JOBS_LEASE_SECONDS)
    for folder in root.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < stale:
            shutil.rmtree(folder, ignore_errors=True)


# --- one step ------------------------------------------------------------------------------------------------


def _step(job: ImputationJob) -> None:
    if job.cancel_requested_at and job.sent_nowhere:
        job_cancelled(job, message="Cancelled before submission.")  # nothing was sent: no token or service needed
        return
    if job.status == Status.PENDING:
        job_inputs_settle(job)
        # still waiting for a verdict: the file event (or the reconciler, much later) brings it back
        ImputationJob.objects.using(DB).filter(pk=job.pk, status=Status.PENDING).update(next_action_at=None)
        return
    service = get_registry_service().service_get(id_or_slug=job.service_id or 0)
    try:
        token = _token(job, service)
        with connector_of(service) as connector:
            _step_remote(job, service=service, connector=connector, token=token)
    except PausedForAuth as paused:
        _auth_pause(job, str(paused))
    except CredentialError as refused:
        _auth_pause(job, f"{service.name} refused your token ({refused.message}). Replace it in Settings.")


def _step_remote(job: ImputationJob, *, service: ServiceRecord, connector: Connector, token: str) -> None:
    if job.cancel_requested_at and not job.external_job_id and job.stage == Stage.SUBMITTING:
        if job_submit_reconcile(job, connector=connector, token=token):
            pass  # the submit had reached the remote: cancel it there below
        else:
            job_transition(job, stage=Stage.QUEUED, message="The submission did not reach the service.")
            job_cancelled(job, message="Cancelled before submission.")
            return
    if job.stage == Stage.QUEUED:
        _submit(job, service=service, connector=connector, token=token)
    elif job.stage == Stage.SUBMITTING:
        if job_submit_reconcile(job, connector=connector, token=token):
            job_reschedule(job)
        else:
            job_transition(job, stage=Stage.QUEUED, message="The last submission did not reach the service; retrying.")
            _submit(job, service=service, connector=connector, token=token)
    elif job.cancel_requested_at and job.stage in POLLED_STAGES:
        _cancel_remote(job, connector=connector, token=token)
    elif job.stage in POLLED_STAGES:
        _poll(job, connector=connector, token=token)
    elif job.stage == Stage.DOWNLOADING:
        job_results_fetch(job, connector=connector, token=token)


def _token(job: ImputationJob, service: ServiceRecord) -> str:
    try:
        return get_users_service().credential_token_for_job(
            owner_id=job.owner_id, service_id=service.id, job_id=str(job.pk)
        )
    except CredentialMissingError:
        if not service.requires_auth:
            return ""
        raise PausedForAuth(f"You have no token for {service.name}; add one in Settings to continue.") from None
    except CredentialExpiredError:
        raise PausedForAuth(f"Your token for {service.name} has expired; replace it in Settings.") from None
    except UsersError as exc:
        raise RemoteUnavailableError(f"The users context could not be asked for the token: {exc}") from exc


def _submit(job: ImputationJob, *, service: ServiceRecord, connector: Connector, token: str) -> None:
    outcome = job_submit(job, service=service, connector=connector, token=token)
    if outcome == SubmitOutcome.SUBMITTED:
        job_reschedule(job)
    elif outcome == SubmitOutcome.REQUEUED:
        job_reschedule(job, seconds=settings.JOBS_REQUEUE_SECONDS)
    elif outcome == SubmitOutcome.RETRY:
        job_reschedule(job, backoff=True)


def _poll(job: ImputationJob, *, connector: Connector, token: str) -> None:
    started = timezone.now()
    try:
        status = connector.status(
            job.external_job_id,
            token=token,
            seen_states=job.remote_states_seen,
            already_downloaded=bool(job.result_file_ids),
        )
    except NotFoundError as missing:
        _not_found(job, missing)
        return
    except RemoteUnavailableError as down:
        job_reschedule(job, backoff=True, retry_after=down.retry_after)
        return
    except ConfigurationError as refused:
        logger.warning("job %s: the remote refused the status call: %s", job.pk, refused.message)
        job_reschedule(job, backoff=True)
        return
    finally:
        _poll_log(job, started=started)
    if not status.messages and status.state != remote.SUBMITTED:
        status = _with_remote_logs(job, status, connector=connector, token=token)
    job_status_apply(job, status)


def _with_remote_logs(job: ImputationJob, status: RemoteStatus, *, connector: Connector, token: str) -> RemoteStatus:
    """A status that carries no step messages (WES: `/status` is the state alone) gets the run's logs and task logs
    instead, so the job shows its steps while it runs and its last message when it ends. Best effort: a failure to
    read them never holds the job up (the next poll tries again)."""
    try:
        entries = connector.logs(job.external_job_id, token=token)
    except ConnectorError as exc:
        logger.info("job %s: the remote's logs could not be read (%s)", job.pk, exc.message)
        return status
    return replace(status, messages=tuple(entries))


def _poll_log(job: ImputationJob, *, started: datetime) -> None:
    """One line per poll: how late it started against when it was due (the load benchmark reads these)."""
    due = job.next_action_at or started
    poll_logger.info(
        "job polled",
        extra={
            "job_id": str(job.pk),
            "service_id": job.service_id,
            "lag_ms": round((started - due).total_seconds() * 1000),
            "started_at": started.isoformat(),
            "ended_at": timezone.now().isoformat(),
        },
    )


def job_status_apply(job: ImputationJob, status: RemoteStatus) -> None:
    """Fold one remote status into the job: logs, raw state history, the central move, the next poll."""
    job_logs_store(job, status.messages)
    seen = list(job.remote_states_seen)
    if not seen or seen[-1] != status.raw_state or status.raw_state.upper() == "UNKNOWN":
        seen = [*seen, status.raw_state][-SEEN_MAX:]
    fields: dict[str, Any] = {
        "remote_states_seen": seen,
        "remote_state_raw": status.raw_state,
        "queue_position": status.queue_position,
        "not_found_count": 0,
        "transient_failures": 0,
        "last_polled_at": timezone.now(),
    }
    if status.retire_at is not None:
        fields["retire_at"] = status.retire_at
    message = status.latest_message
    state = status.state
    if state == remote.FAILED:
        job_fail(
            job,
            remote_state=status.raw_state,
            message=status.failure_message or message,  # the reason, not merely the last line of the logs
            category=status.failure_category or remote.REMOTE_PIPELINE,
            failure_message=status.failure_message or message,
            **fields,
        )
        return
    if state == remote.CANCELLED:
        job_cancelled(
            job,
            remote_state=status.raw_state,
            message=message or "Cancelled on the service.",
            **fields,
        )
        return
    if state == remote.COMPLETED:  # retired after we downloaded everything: nothing left to do
        fields["next_action_at"] = None
        job_transition(job, stage=job.stage, remote_state=status.raw_state, **fields)
        return
    stage = _stage_of(state, current=job.stage)
    job_transition(
        job,
        stage=stage,
        progress=max(job.progress, PROGRESS_OF.get(Stage(stage), job.progress)),
        remote_state=status.raw_state,
        message=message,
        **fields,
    )
    if stage == Stage.DOWNLOADING:
        job_reschedule(job, seconds=0)
    else:
        job_reschedule(job)


def _stage_of(state: str, *, current: str) -> str:
    """The central stage for a mapped remote state; never backwards (a remote may report an older state late)."""
    wanted = {
        remote.SUBMITTED: Stage.SUBMITTED,
        remote.RUNNING: Stage.RUNNING,
        remote.EXPORTING: Stage.EXPORTING,
        remote.DOWNLOADING: Stage.DOWNLOADING,
        remote.CANCELLING: current,
    }.get(state, current)
    return wanted if STAGE_ORDER.index(Stage(wanted)) >= STAGE_ORDER.index(Stage(current)) else current


def _cancel_remote(job: ImputationJob, *, connector: Connector, token: str) -> None:
    now = timezone.now()
    if job.cancel_sent_at is None:
        try:
            status = connector.cancel(job.external_job_id, token=token)
        except RemoteUnavailableError as down:
            job_reschedule(job, backoff=True, retry_after=down.retry_after)
            return
        except ConnectorError as refused:  # e.g. the remote says the job is no longer cancellable
            logger.info("job %s: cancel refused (%s); polling for the outcome", job.pk, refused.message)
            status = None
        ImputationJob.objects.using(DB).filter(pk=job.pk).update(cancel_sent_at=now)
        job.cancel_sent_at = now
        if status is not None:
            if status.state in (remote.DOWNLOADING, remote.COMPLETED):
                _cancel_lost(job)
            job_status_apply(job, status)
            return
    elif (now - job.cancel_sent_at).total_seconds() > settings.JOBS_CANCEL_TIMEOUT_SECONDS:
        job_cancelled(
            job,
            message="The service never confirmed the cancel; the job was cancelled here. It may still run there.",
        )
        return
    _poll(job, connector=connector, token=token)


def _cancel_lost(job: ImputationJob) -> None:
    """The job finished on the remote before the cancel arrived: keep its results (the remote's outcome wins)."""
    ImputationJob.objects.using(DB).filter(pk=job.pk).update(cancel_requested_at=None)
    job.cancel_requested_at = None


def _not_found(job: ImputationJob, missing: NotFoundError) -> None:
    count = job.not_found_count + 1
    if count >= settings.JOBS_LOST_AFTER_NOT_FOUND:
        job_fail(
            job,
            category=remote.LOST,
            not_found_count=count,
            message=f"The service no longer knows this job ({count} lookups in a row answered 404).",
        )
        return
    ImputationJob.objects.using(DB).filter(pk=job.pk).update(not_found_count=count)
    job.not_found_count = count
    logger.warning("job %s: remote 404 (%d in a row): %s", job.pk, count, missing.message)
    job_reschedule(job, backoff=True)


def _auth_pause(job: ImputationJob, message: str) -> None:
    with transaction.atomic(using=DB):
        locked = ImputationJob.objects.using(DB).select_for_update().get(pk=job.pk)
        if locked.status in TERMINAL:
            return
        if locked.cancel_requested_at and locked.sent_nowhere:
            # cancelled while this step ran: no pause (nothing would wake the job); the next step cancels it
            locked.next_action_at = job.next_action_at = timezone.now()
            locked.save(using=DB, update_fields=["next_action_at", "updated_at"])
            return
        first = not locked.auth_paused
        locked.auth_paused, locked.auth_message, locked.next_action_at = True, message, None
        locked.save(using=DB, update_fields=["auth_paused", "auth_message", "next_action_at", "updated_at"])
        if first:
            job_owner_notify(locked, title=f'Job "{locked.name}" is paused: token needed', message=message)
    job.auth_paused, job.auth_message, job.next_action_at = True, message, None
