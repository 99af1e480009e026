"""The jobs context's public interface: what monitoring and notifications may ask of it (counts, recent jobs).

Other contexts learn about individual transitions from `job.status.updated`; this answers the questions a
projection would otherwise have to rebuild. `get_jobs_service()` answers in-process, or over HTTP when the jobs
context runs as its own deployable (CONTEXT_URLS["jobs"]). Both pass the same tests (apps/jobs/tests/test_public.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

STATUSES = ("pending", "queued", "running", "completed", "failed", "cancelled")


@dataclass(frozen=True)
class JobSummary:
    id: str
    owner_id: int
    name: str
    service_id: int | None
    panel_id: int | None
    parent_id: str | None
    status: str
    stage: str
    progress: int
    failure_category: str | None
    created_at: datetime
    completed_at: datetime | None


class JobsError(Exception):
    """Base of the jobs context's public errors."""


class JobsUnavailableError(JobsError):
    """The jobs deployable could not be reached or answered with an error; the caller may retry later."""


class JobsService(ABC):
    @abstractmethod
    def job_counts(self, *, owner_id: int | None = None, service_id: int | None = None) -> dict[str, int]:
        """Jobs by status, every status present (zeros included); batch parents are not counted."""

    @abstractmethod
    def jobs_recent(self, *, owner_id: int | None = None, limit: int = 10) -> list[JobSummary]:
        """The newest jobs (of one owner, or of everyone), newest first; limit is clamped to 1..100."""


LOCAL = "apps.jobs.impl.LocalJobsService"
REMOTE = "apps.jobs.remote.RemoteJobsService"


@lru_cache(maxsize=4)
def _remote(base_url: str) -> JobsService:
    service: JobsService = import_string(REMOTE)(base_url=base_url)
    return service


def get_jobs_service() -> JobsService:
    """In-process unless the jobs context has been extracted and this process is not it."""
    base_url = settings.CONTEXT_URLS.get("jobs")
    if base_url and settings.DEPLOYABLE != "jobs":
        return _remote(base_url)
    service: JobsService = import_string(LOCAL)()
    return service
