"""The submission saga's remote half: send a queued job to its service exactly once.

Checks the service's concurrent-job limit (re-queue, never fail, when it is reached), moves the job to
`submitting` and commits that before any byte leaves, streams the inputs, and stores the remote id together with
the move to `submitted` in one transaction. A submit whose outcome is unknown (timeout, worker killed mid-upload)
leaves the job in `submitting`; `job_submit_reconcile` then looks the job up on the remote by our job id (Cloudgene
job-name, WES tags) and adopts what it finds, so a retry never makes a second remote job.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from enum import StrEnum
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from apps.connectors import states as remote
from apps.connectors.public import (
    ConfigurationError,
    Connector,
    CredentialError,
    InputFile,
    JobSubmission,
    QuotaError,
    RemoteUnavailableError,
    UnsupportedOperationError,
)
from apps.files.public import FilesError, get_files_service
from apps.jobs.models import DB, ImputationJob, Stage, Status
from apps.jobs.services.transitions import job_fail, job_transition
from apps.kernel.connections import connections_release
from apps.registry.public import ServiceRecord

logger = logging.getLogger(__name__)

REMOTE_ACTIVE = (Stage.SUBMITTING, Stage.SUBMITTED, Stage.RUNNING, Stage.EXPORTING)


class SubmitOutcome(StrEnum):
    SUBMITTED = "submitted"
    REQUEUED = "requeued"  # the service's per-user limit: try again later, the job is fine
    RETRY = "retry"  # transient: back off and try again
    FAILED = "failed"


def job_submit(job: ImputationJob, *, service: ServiceRecord, connector: Connector, token: str) -> SubmitOutcome:
    if job.submit_attempts >= settings.JOBS_SUBMIT_MAX_ATTEMPTS:
        job_fail(
            job,
            category=remote.REMOTE_SYSTEM,
            message=f"{service.name} could not be reached in {job.submit_attempts} submission attempts.",
        )
        return SubmitOutcome.FAILED
    if service.max_jobs:
        active = (
            ImputationJob.objects.using(DB)
            .filter(
                owner_id=job.owner_id,
                service_id=service.id,
                stage__in=REMOTE_ACTIVE,
                status__in=(Status.QUEUED, Status.RUNNING),
            )
            .exclude(pk=job.pk)
            .count()
        )
        if active >= service.max_jobs:
            job_transition(
                job,
                stage=Stage.QUEUED,
                message=(
                    f"Waiting: you have {active} jobs active on {service.name}, its limit per user; "
                    "this one is sent when one finishes."
                ),
            )
            return SubmitOutcome.REQUEUED
    job_transition(
        job,
        stage=Stage.SUBMITTING,
        progress=1,
        message=f"Uploading the input files to {service.name}.",
        submit_attempts=job.submit_attempts + 1,
        submit_started_at=timezone.now(),
    )
    connections_release()  # copying the inputs, then sending them, may take hours: no connection idles meanwhile
    try:
        with _inputs_spooled(job) as files:
            connections_release()  # nor one the copying opened
            result = connector.submit(
                JobSubmission(
                    job_id=str(job.pk),
                    refpanel=job.panel_slug,
                    password=job.password(),
                    files=files,
                    build=job.build,
                    population=job.population,
                    phasing=job.phasing,
                    mode=job.mode,
                    r2_filter=job.r2_filter,
                    idempotency_key=str(job.pk),
                ),
                token=token,
            )
    # the service answered: a refused token (the job pauses) or its limit of jobs per user (the job waits for a
    # free slot, however long) is no failed attempt to reach it, so neither counts against JOBS_SUBMIT_MAX_ATTEMPTS
    except CredentialError:
        job_transition(
            job,
            stage=Stage.QUEUED,
            message=f"{service.name} refused the token; nothing was submitted.",
            submit_attempts=job.submit_attempts - 1,
        )
        raise
    except QuotaError as limit:
        job_transition(
            job, stage=Stage.QUEUED, message=f"Re-queued: {limit.message}", submit_attempts=job.submit_attempts - 1
        )
        return SubmitOutcome.REQUEUED
    except ConfigurationError as refused:
        job_fail(
            job,
            category=remote.VALIDATION,
            message=f"{service.name} refused the job: {refused.message}",
        )
        return SubmitOutcome.FAILED
    except FilesError as missing:
        job_fail(
            job,
            category="input",
            message=f"An input file could not be read: {missing}",
        )
        return SubmitOutcome.FAILED
    except RemoteUnavailableError as down:
        if down.outcome_unknown and job_submit_reconcile(job, connector=connector, token=token):
            return SubmitOutcome.SUBMITTED
        job_transition(job, stage=Stage.QUEUED, message=f"{service.name} is unavailable ({down.message}); retrying.")
        return SubmitOutcome.RETRY
    _submitted(job, remote_job_id=result.remote_job_id, message=result.message or f"Submitted to {service.name}.")
    return SubmitOutcome.SUBMITTED


def job_submit_reconcile(job: ImputationJob, *, connector: Connector, token: str) -> bool:
    """After a submit with an unknown outcome: adopt the remote job carrying our job id, if there is one.

    Raises RemoteUnavailableError when the remote cannot be asked (the job stays in `submitting` and is asked
    again later: resubmitting blind could make a second remote job).
    """
    try:
        found = connector.find_by_job_name(str(job.pk), token=token)
    except UnsupportedOperationError:
        found = []
    if not found:
        return False
    if len(found) > 1:
        logger.error("job %s: %d remote jobs carry its id; adopting the first", job.pk, len(found))
    _submitted(job, remote_job_id=found[0].remote_job_id, message="Submitted (found on the service after a retry).")
    return True


def _submitted(job: ImputationJob, *, remote_job_id: str, message: str) -> None:
    job_transition(
        job,
        stage=Stage.SUBMITTED,
        progress=5,
        message=message,
        external_job_id=remote_job_id,
        transient_failures=0,
    )


class _Spool:
    """Copies of a job's inputs on local disk, named as the remote wants them (`*.vcf.gz`), removed afterwards."""

    def __init__(self, job: ImputationJob) -> None:
        settings.JOBS_SPOOL_DIR.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=f"submit-{job.pk}-", dir=settings.JOBS_SPOOL_DIR))
        self.job = job

    def __enter__(self) -> tuple[InputFile, ...]:
        files_service = get_files_service()
        spooled = []
        for position, file_id in enumerate(self.job.input_file_ids, start=1):
            info = files_service.file_get(file_id=file_id)
            name = info.name if info.name.endswith(".vcf.gz") else f"input-{position}.vcf.gz"
            path = self.dir / f"{position:03d}-{Path(name).name}"
            with files_service.file_open(file_id=file_id) as source, path.open("wb") as target:
                shutil.copyfileobj(source, target, length=1024 * 1024)
            spooled.append(InputFile(path=path, name=Path(name).name))
        return tuple(spooled)

    def __exit__(self, *exc_info: object) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _inputs_spooled(job: ImputationJob) -> _Spool:
    return _Spool(job)
