"""The in-process implementation of the jobs context's public interface (apps/jobs/public.py)."""

from __future__ import annotations

from apps.jobs import public
from apps.jobs.models import ImputationJob
from apps.jobs.selectors.jobs import job_counts, jobs_recent


def job_summary_of(job: ImputationJob) -> public.JobSummary:
    return public.JobSummary(
        id=str(job.pk),
        owner_id=job.owner_id,
        name=job.name,
        service_id=job.service_id,
        panel_id=job.panel_id,
        parent_id=str(job.parent_id) if job.parent_id else None,
        status=job.status,
        stage=job.stage,
        progress=job.progress,
        failure_category=job.failure_category or None,
        created_at=job.created_at,
        completed_at=job.completed_at,
    )


class LocalJobsService(public.JobsService):
    def job_counts(self, *, owner_id: int | None = None, service_id: int | None = None) -> dict[str, int]:
        return job_counts(owner_id=owner_id, service_id=service_id)

    def jobs_recent(self, *, owner_id: int | None = None, limit: int = 10) -> list[public.JobSummary]:
        return [job_summary_of(job) for job in jobs_recent(owner_id=owner_id, limit=limit)]
