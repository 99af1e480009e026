"""The jobs context's public interface over HTTP for other deployables (apps/jobs/remote.py calls these).

Mounted under /internal/jobs/; the gateway routes no /internal/ prefix, and each call must carry an internal
service token addressed to `jobs`.
"""

from __future__ import annotations

from dataclasses import asdict

from rest_framework.request import Request
from rest_framework.response import Response

from apps.jobs.impl import LocalJobsService
from apps.kernel.errors import ApplicationError
from apps.kernel.internal_http import InternalApi
from apps.kernel.timestamps import timestamp


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name) or ""
    if not raw:
        return None
    if not raw.isdigit():
        raise ApplicationError(f"{name} must be a number.")
    return int(raw)


class JobCountsApi(InternalApi):
    def get(self, request: Request) -> Response:
        counts = LocalJobsService().job_counts(
            owner_id=_int_param(request, "owner"), service_id=_int_param(request, "service")
        )
        return Response(counts)


class JobsRecentApi(InternalApi):
    def get(self, request: Request) -> Response:
        jobs = LocalJobsService().jobs_recent(
            owner_id=_int_param(request, "owner"), limit=_int_param(request, "limit") or 10
        )
        results = [
            {**asdict(job), "created_at": timestamp(job.created_at), "completed_at": timestamp(job.completed_at)}
            for job in jobs
        ]
        return Response({"results": results})
