"""The jobs context's public interface over HTTP, for deployables that do not host the jobs context."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.utils.dateparse import parse_datetime

from apps.jobs import public
from apps.kernel.internal_http import InternalClient


def _summary(body: dict[str, Any]) -> public.JobSummary:
    completed = body.get("completed_at")
    created = parse_datetime(body["created_at"])
    assert created is not None  # the server always sends it
    return public.JobSummary(
        **{**body, "created_at": created, "completed_at": parse_datetime(completed) if completed else None}
    )


class RemoteJobsService(public.JobsService):
    def __init__(self, *, base_url: str, timeout: float = 5.0) -> None:
        self.client = InternalClient(
            base_url=base_url, audience="jobs", errors={}, unavailable=public.JobsUnavailableError, timeout=timeout
        )

    def job_counts(self, *, owner_id: int | None = None, service_id: int | None = None) -> dict[str, int]:
        query = urlencode({key: value for key, value in (("owner", owner_id), ("service", service_id)) if value})
        body = self.client.call("GET", f"/internal/jobs/counts/?{query}")
        return {status: int(body[status]) for status in public.STATUSES}

    def jobs_recent(self, *, owner_id: int | None = None, limit: int = 10) -> list[public.JobSummary]:
        query = urlencode({"limit": limit, **({"owner": owner_id} if owner_id is not None else {})})
        body = self.client.call("GET", f"/internal/jobs/recent/?{query}")
        return [_summary(item) for item in body["results"]]
