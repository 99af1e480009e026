"""What users do to jobs: create one (or a batch), cancel, retry. The orchestration does the rest.

A request is checked against the other contexts through their public interfaces (the service and panel exist
and are usable, the caller may submit there and has quota left, the files are theirs and fit the target) before
anything is written; then the job, its first history row and its events commit together, and the orchestration
is asked to advance it once the transaction has committed.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.connectors.public import SUPPORTED_API_TYPES
from apps.files.public import FileInfo, FileMissingError, get_files_service
from apps.jobs.models import DB, ImputationJob, JobBatch, Mode, Phasing, Stage, Status
from apps.jobs.services.dispatch import job_kick
from apps.jobs.services.preflight import input_problems, inputs_waiting
from apps.jobs.services.transitions import job_action_record, job_cancelled, job_fail, job_transition
from apps.jobs.states import TERMINAL
from apps.kernel.errors import ApplicationError, ConflictError
from apps.kernel.secretbox import secret_seal
from apps.registry.public import (
    PanelNotFoundError,
    PanelRecord,
    ServiceNotFoundError,
    ServiceRecord,
    get_registry_service,
)
from apps.users.public import UserNotFoundError, get_users_service

BUILDS = ("hg19", "hg38")
NAME_MAX = 200
PASSWORD_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 24


class JobRequestError(ApplicationError):
    """The request names something that does not exist or does not fit; `details` says which field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message, details={field_name: [message]})


class JobForbiddenError(ApplicationError):
    status, code = 403, "AUTHORIZATION_ERROR"


class QuotaExceededError(ConflictError):
    """The monthly job quota is used up: a state of the account (409), not a burst to retry after (429)."""


@dataclass(frozen=True)
class JobRequest:
    """The POST /api/jobs/ body once its types are right; meaning is checked by `job_create`."""

    name: str
    service: int | str
    reference_panel: int | str
    input_files: tuple[int, ...]
    build: str = "hg19"
    phasing: str = Phasing.EAGLE
    population: str = "off"
    mode: str = Mode.IMPUTATION
    r2_filter: float = 0.0
    input_format: str = "vcf.gz"
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Target:
    service: ServiceRecord
    panel: PanelRecord


@dataclass(frozen=True)
class Actor:
    """Who acts, as the API knows them (the stateless principal): enough to audit and check ownership."""

    id: int
    ip: str = ""
    user_agent: str = ""


def job_create(*, actor: Actor, request: JobRequest, idempotency_key: str = "") -> tuple[ImputationJob, bool]:
    """Create and start a job; (job, created). The same Idempotency-Key returns the first job (created False)."""
    if idempotency_key:
        existing = _by_idempotency_key(actor.id, idempotency_key)
        if existing is not None:
            return existing, False
    target = _target_resolve(request.service, request.reference_panel)
    files = _inputs_check(actor=actor, request=request, targets=[target])
    try:
        with transaction.atomic(using=DB):
            job = _job_insert(actor=actor, request=request, target=target, files=files, key=idempotency_key)
            job_action_record(job, action="job_created", actor_id=actor.id, ip=actor.ip, user_agent=actor.user_agent)
    except IntegrityError:
        existing = _by_idempotency_key(actor.id, idempotency_key) if idempotency_key else None
        if existing is None:
            raise
        return existing, False  # a concurrent double click: the other request created it
    _advance_on_commit(job)
    return job, True


def batch_create(
    *, actor: Actor, request: JobRequest, targets: list[tuple[int | str, int | str]], idempotency_key: str = ""
) -> tuple[ImputationJob, bool]:
    """One parent job and one child per (service, panel) target, sharing the same input files."""
    if idempotency_key:
        existing = _by_idempotency_key(actor.id, idempotency_key)
        if existing is not None:
            return existing, False
    if not 1 <= len(targets) <= 20:
        raise JobRequestError("targets", "Give between 1 and 20 targets, each a service and a reference panel.")
    resolved = [_target_resolve(service, panel) for service, panel in targets]
    pairs = {(t.service.id, t.panel.id) for t in resolved}
    if len(pairs) != len(resolved):
        raise JobRequestError("targets", "The same service and panel are listed twice.")
    files = _inputs_check(actor=actor, request=request, targets=resolved)
    with transaction.atomic(using=DB):
        parent = ImputationJob.objects.using(DB).create(
            owner_id=actor.id, idempotency_key=idempotency_key, **_settings_of(request)
        )
        JobBatch.objects.using(DB).create(
            owner_id=actor.id,
            parent=parent,
            targets=[{"service": t.service.id, "reference_panel": t.panel.id} for t in resolved],
        )
        job_transition(parent, stage=Stage.QUEUED, status=Status.PENDING, message="Batch created.")
        job_transition(parent, stage=Stage.QUEUED, message=f"Submitting to {len(resolved)} targets.")
        children = [
            _job_insert(actor=actor, request=request, target=target, files=files, key="", parent=parent)
            for target in resolved
        ]
        job_action_record(
            parent,
            action="job_batch_created",
            actor_id=actor.id,
            ip=actor.ip,
            user_agent=actor.user_agent,
            children=[str(child.id) for child in children],
        )
    for child in children:
        _advance_on_commit(child)
    return parent, True


def job_cancel(*, job: ImputationJob, actor: Actor) -> ImputationJob:
    """Cancel at once when nothing was sent yet; otherwise ask the remote (the orchestration sends the cancel and
    accepts the remote's outcome, even when the job finished first). A batch cancels every active child."""
    if job.status in TERMINAL:
        raise ConflictError(f"The job is already {job.status}; only an active job can be cancelled.")
    if job.is_batch:
        with transaction.atomic(using=DB):
            job_action_record(job, action="job_cancelled", actor_id=actor.id, ip=actor.ip, user_agent=actor.user_agent)
        for child in ImputationJob.objects.using(DB).filter(parent=job).exclude(status__in=TERMINAL):
            job_cancel(job=child, actor=actor)
        job.refresh_from_db(using=DB)
        return job
    with transaction.atomic(using=DB):
        locked = ImputationJob.objects.using(DB).select_for_update().get(pk=job.pk)
        job_action_record(locked, action="job_cancelled", actor_id=actor.id, ip=actor.ip, user_agent=actor.user_agent)
        if locked.sent_nowhere and locked.lease_until is None:
            job_cancelled(locked, message="Cancelled before submission.")
        elif locked.cancel_requested_at is None:
            locked.cancel_requested_at = timezone.now()
            locked.next_action_at = timezone.now()
            # a job sent nowhere is cancelled by its next step without a token: a pause (its step's, made just
            # before this cancel while it still held the lease) must not keep the dispatcher away from it
            locked.auth_paused = locked.auth_paused and not locked.sent_nowhere
            locked.save(using=DB, update_fields=["cancel_requested_at", "next_action_at", "auth_paused", "updated_at"])
    job.refresh_from_db(using=DB)
    if job.status not in TERMINAL:
        _advance_on_commit(job)
    return job


def job_retry(*, job: ImputationJob, actor: Actor) -> ImputationJob:
    """A new attempt of a failed or cancelled job with the same inputs and settings; the old one keeps its history."""
    if job.status not in (Status.FAILED, Status.CANCELLED):
        raise ConflictError(f"Only a failed or cancelled job can be retried; this one is {job.status}.")
    if job.is_batch:
        raise ConflictError("Retry the batch's failed targets one by one; the batch itself does not run.")
    request = JobRequest(
        name=job.name,
        description=job.description,
        service=job.service_id or 0,
        reference_panel=job.panel_id or 0,
        input_files=tuple(job.input_file_ids),
        build=job.build,
        phasing=job.phasing,
        population=job.population,
        mode=job.mode,
        r2_filter=job.r2_filter,
        input_format=job.input_format,
    )
    target = _target_resolve(request.service, request.reference_panel)
    files = _inputs_check(actor=Actor(id=job.owner_id), request=request, targets=[target], for_retry=True)
    with transaction.atomic(using=DB):
        retry = _job_insert(actor=Actor(id=job.owner_id), request=request, target=target, files=files, key="")
        ImputationJob.objects.using(DB).filter(pk=retry.pk).update(retry_of=job, attempt=job.attempt + 1)
        retry.retry_of_id, retry.attempt = job.pk, job.attempt + 1
        job_action_record(
            retry,
            action="job_retried",
            actor_id=actor.id,
            ip=actor.ip,
            user_agent=actor.user_agent,
            retry_of=str(job.pk),
        )
    _advance_on_commit(retry)
    return retry


def job_inputs_judged(*, file_id: int, owner_id: int) -> int:
    """A file got its pre-flight verdict: every pending job waiting on it moves on (or fails). Returns how many."""
    pending = ImputationJob.objects.using(DB).filter(owner_id=owner_id, status=Status.PENDING, service_id__isnull=False)
    waiting = [job for job in pending if file_id in job.input_file_ids]
    for job in waiting:
        job_inputs_settle(job)
    return len(waiting)


def job_inputs_settle(job: ImputationJob) -> None:
    """A pending job whose files are all judged: queued if they fit its target, failed (input) otherwise."""
    if job.status != Status.PENDING:
        return
    files_service, registry = get_files_service(), get_registry_service()
    try:
        files = [files_service.file_get(file_id=file_id) for file_id in job.input_file_ids]
    except FileMissingError:
        job_fail(
            job,
            category="input",
            message="An input file of this job has been deleted.",
        )
        return
    if inputs_waiting(files):
        return
    service = registry.service_get(id_or_slug=job.service_id or 0)
    problems = input_problems(files=files, service=service, build=job.build)
    if problems:
        job_fail(job, category="input", message=" ".join(problems))
        return
    job_transition(
        job, stage=Stage.QUEUED, message="Inputs validated; waiting to be submitted.", next_action_at=timezone.now()
    )
    _advance_on_commit(job)


# --- helpers -------------------------------------------------------------------------------------------------


def _by_idempotency_key(owner_id: int, key: str) -> ImputationJob | None:
    return ImputationJob.objects.using(DB).filter(owner_id=owner_id, idempotency_key=key).first()


def _target_resolve(service_ref: int | str, panel_ref: int | str) -> _Target:
    registry = get_registry_service()
    try:
        service = registry.service_get(id_or_slug=service_ref)
    except ServiceNotFoundError:
        raise JobRequestError("service", f"There is no service {service_ref!r}.") from None
    if not service.is_active:
        raise JobRequestError("service", f"The service {service.name} is deactivated and takes no new jobs.")
    if service.api_type not in SUPPORTED_API_TYPES:
        raise JobRequestError(
            "service",
            f"{service.name} ({service.api_type}) has no job API the platform can drive; submit there by hand.",
        )
    try:
        panel = registry.panel_get(service_id=service.id, id_or_slug=panel_ref)
    except PanelNotFoundError:
        raise JobRequestError("reference_panel", f"{service.name} has no reference panel {panel_ref!r}.") from None
    if not panel.is_available:
        raise JobRequestError("reference_panel", f"The panel {panel.name} is not available on {service.name} now.")
    return _Target(service=service, panel=panel)


def _inputs_check(
    *, actor: Actor, request: JobRequest, targets: list[_Target], for_retry: bool = False
) -> list[FileInfo]:
    """Every check of a request that needs other contexts; raises the first problem, field by field."""
    if request.build not in BUILDS:
        raise JobRequestError("build", f"build must be hg19 or hg38, not {request.build!r}.")
    users = get_users_service()
    try:
        user = users.user_get(user_id=actor.id)
    except UserNotFoundError:
        raise JobForbiddenError("Your account no longer exists.") from None
    if not user.is_active:
        raise JobForbiddenError("Your account is deactivated.")
    for target in targets:
        _target_fits(request, target)
        if not users.service_permission_has(user_id=actor.id, service_id=target.service.id, permission="submit_jobs"):
            raise JobForbiddenError(f"You may not submit jobs to {target.service.name}; ask an administrator.")
    if not for_retry:
        _quota_check(owner_id=actor.id, limit=user.quotas.monthly_jobs, adding=len(targets))
    if not request.input_files:
        raise JobRequestError("input_files", "Give at least one input file id.")
    if len(request.input_files) > settings.JOBS_MAX_INPUT_FILES:
        raise JobRequestError("input_files", f"A job takes at most {settings.JOBS_MAX_INPUT_FILES} input files.")
    if len(set(request.input_files)) != len(request.input_files):
        raise JobRequestError("input_files", "The same input file is listed twice.")
    files = []
    for file_id in request.input_files:
        try:
            info = get_files_service().file_get(file_id=file_id)
        except FileMissingError:
            info = None
        if info is None or info.owner_id != actor.id:
            raise JobRequestError("input_files", f"There is no input file {file_id} of yours.")
        if info.status == "uploading":
            raise JobRequestError("input_files", f"The upload of '{info.name}' is not complete; finish it first.")
        files.append(info)
    for target in targets:
        problems = input_problems(files=files, service=target.service, build=request.build)
        if problems:
            raise JobRequestError("input_files", " ".join(problems))
    return files


def _target_fits(request: JobRequest, target: _Target) -> None:
    service, panel = target.service, target.panel
    if service.supported_builds and request.build not in service.supported_builds:
        builds = ", ".join(service.supported_builds)
        raise JobRequestError("build", f"{service.name} accepts builds {builds}, not {request.build}.")
    if request.population != "off" and panel.populations and request.population not in panel.populations:
        choices = ", ".join([*panel.populations, "off"])
        raise JobRequestError(
            "population", f"The panel {panel.name} has no population {request.population!r}; choose one of {choices}."
        )
    if service.supported_formats and request.input_format not in service.supported_formats:
        formats = ", ".join(service.supported_formats)
        raise JobRequestError("input_format", f"{service.name} accepts {formats}, not {request.input_format!r}.")


def _quota_check(*, owner_id: int, limit: int, adding: int) -> None:
    if limit <= 0:
        return
    month_start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    used = (
        ImputationJob.objects.using(DB)
        .filter(owner_id=owner_id, created_at__gte=month_start, service_id__isnull=False)
        .count()
    )
    if used + adding > limit:
        raise QuotaExceededError(
            f"Your quota is {limit} jobs a month and {used} have been submitted since "
            f"{month_start:%Y-%m-%d}; this request needs {adding} more. Ask an administrator to raise it."
        )


def _settings_of(request: JobRequest) -> dict[str, Any]:
    """The columns a job (or a batch parent) takes from the request as they are."""
    return {
        "name": request.name,
        "description": request.description,
        "input_file_ids": list(request.input_files),
        "build": request.build,
        "phasing": request.phasing,
        "population": request.population,
        "mode": request.mode,
        "r2_filter": request.r2_filter,
        "input_format": request.input_format,
    }


def _job_insert(
    *,
    actor: Actor,
    request: JobRequest,
    target: _Target,
    files: list[FileInfo],
    key: str,
    parent: ImputationJob | None = None,
) -> ImputationJob:
    job = ImputationJob.objects.using(DB).create(
        owner_id=actor.id,
        service_id=target.service.id,
        service_slug=target.service.slug,
        service_name=target.service.name,
        panel_id=target.panel.id,
        panel_slug=target.panel.slug,
        panel_name=target.panel.name,
        parent=parent,
        idempotency_key=key,
        password_encrypted=secret_seal(zip_password_new(), setting="JOBS_ENCRYPTION_KEYS"),
        **_settings_of(request),
    )
    job_transition(job, stage=Stage.QUEUED, status=Status.PENDING, message="Job created.")
    if not inputs_waiting(files):
        job_transition(job, stage=Stage.QUEUED, message="Waiting to be submitted.", next_action_at=timezone.now())
    else:
        job_transition(
            job,
            stage=Stage.QUEUED,
            status=Status.PENDING,
            progress=0,
            message="Waiting for the input files' pre-flight checks.",
        )
    return job


def zip_password_new() -> str:
    """A job's zip password: letters and digits only (~143 bits), so it can be pasted after `unzip -P` or `7z -p`.

    URL-safe tokens may start with "-", which command-line tools read as an option.
    """
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def _advance_on_commit(job: ImputationJob) -> None:
    job_id = job.pk
    transaction.on_commit(lambda: job_kick(job_id=job_id), using=DB)
