"""Reading jobs: who sees which (owners their own; roles with view_all_jobs everyone's), filters, history, logs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from apps.jobs.models import DB, ImputationJob, JobLog, JobStatusUpdate, Status

ORDERINGS = frozenset(
    {"created_at", "-created_at", "name", "-name", "status", "-status", "completed_at", "-completed_at"}
)
SEES_ALL_ROLES = frozenset({"admin", "service_admin"})  # the roles with view_all_jobs (apps/users/roles.py)


@dataclass(frozen=True)
class Viewer:
    """Who asks, from the access token's claims (no users lookup): their id and whether they see every job."""

    user_id: int
    sees_all: bool = False
    is_admin: bool = False


def viewer_of(*, user_id: int, role: str, is_staff: bool) -> Viewer:
    return Viewer(user_id=user_id, sees_all=role in SEES_ALL_ROLES or is_staff, is_admin=role == "admin" or is_staff)


def _visible(viewer: Viewer) -> QuerySet[ImputationJob]:
    jobs = ImputationJob.objects.using(DB)
    return jobs.all() if viewer.sees_all else jobs.filter(owner_id=viewer.user_id)


def job_get(*, viewer: Viewer, job_id: str) -> ImputationJob | None:
    """The job if the viewer may see it; None both when it does not exist and when it is someone else's."""
    try:
        key = uuid.UUID(str(job_id))
    except ValueError:  # a malformed id is just a job that does not exist
        return None
    return _visible(viewer).filter(pk=key).first()


def job_list(
    *,
    viewer: Viewer,
    status: str | None = None,
    service_id: int | None = None,
    search: str = "",
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    parent_id: str | None = None,
    ordering: str = "-created_at",
) -> QuerySet[ImputationJob]:
    jobs = _visible(viewer)
    if status:
        jobs = jobs.filter(status=status)
    if service_id is not None:
        jobs = jobs.filter(service_id=service_id)
    if search:
        jobs = jobs.filter(
            Q(name__icontains=search) | Q(description__icontains=search) | Q(external_job_id__icontains=search)
        )
    if created_after:
        jobs = jobs.filter(created_at__gte=created_after)
    if created_before:
        jobs = jobs.filter(created_at__lt=created_before)
    if parent_id:
        try:
            jobs = jobs.filter(parent_id=uuid.UUID(parent_id))
        except ValueError:
            return jobs.none()
    return jobs.order_by(ordering if ordering in ORDERINGS else "-created_at", "-pk")


def job_history(job: ImputationJob) -> QuerySet[JobStatusUpdate]:
    return JobStatusUpdate.objects.using(DB).filter(job=job).order_by("id")


def job_logs(job: ImputationJob) -> QuerySet[JobLog]:
    return JobLog.objects.using(DB).filter(job=job).order_by("index", "id")


def job_counts(*, owner_id: int | None = None, service_id: int | None = None) -> dict[str, int]:
    """Jobs by status (every status present, zeros included); batch parents are not counted, their children are."""
    jobs = ImputationJob.objects.using(DB).filter(service_id__isnull=False)
    if owner_id is not None:
        jobs = jobs.filter(owner_id=owner_id)
    if service_id is not None:
        jobs = jobs.filter(service_id=service_id)
    counted = dict(jobs.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {status: int(counted.get(status, 0)) for status in Status.values}


def jobs_recent(*, owner_id: int | None = None, limit: int = 10) -> list[ImputationJob]:
    jobs = ImputationJob.objects.using(DB).all()
    if owner_id is not None:
        jobs = jobs.filter(owner_id=owner_id)
    return list(jobs.order_by("-created_at", "-pk")[: max(1, min(limit, 100))])
