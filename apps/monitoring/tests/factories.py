"""Building blocks of the monitoring tests: the users and registry contexts answered by stubs of their public
interfaces, events as the other contexts publish them, callers, and facts written through the projections.

The monitoring context asks the users context what a caller may do and who the operators are, and the registry
whether a service is still active. These tests answer for them with stubs (this context's tests touch only the
monitoring database); the real contexts answer the same questions in their own test suites.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.test import Client
from django.utils import timezone

from apps.kernel.envelope import FILE_UPLOAD_COMPLETED, JOB_STATUS_UPDATED, SERVICE_HEALTH_CHANGED, Envelope
from apps.monitoring.access import NO_SUCH_SERVICE
from apps.monitoring.models import JobFact
from apps.monitoring.services.projections import job_fact_apply, service_state_apply
from apps.registry.public import PanelRecord, RegistryService, ServiceNotFoundError, ServiceRecord
from apps.users.public import Quotas, UserInfo, UserNotFoundError, UsersService
from tests.gateway.conftest import access_token

OPERATOR = frozenset({"view_all_jobs", "submit_jobs", "view_services", "manage_services"})
RESEARCHER = frozenset({"submit_jobs", "view_services"})
VIEWER = frozenset({"view_services"})
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NO_JOBS = {
    "total": 0,
    "active": 0,
    "by_status": {"pending": 0, "queued": 0, "running": 0, "completed": 0, "failed": 0, "cancelled": 0},
    "success_rate": None,
}


def user_info(user_id: int, capabilities: frozenset[str]) -> UserInfo:
    return UserInfo(
        id=user_id,
        username=f"user{user_id}",
        email=f"user{user_id}@example.org",
        first_name="",
        last_name="",
        role="admin" if "view_all_jobs" in capabilities else "researcher",
        is_active=True,
        is_staff="view_all_jobs" in capabilities,
        capabilities=capabilities,
        timezone="UTC",
        email_notifications=True,
        quotas=Quotas(monthly_jobs=100, storage_bytes=1),
    )


@dataclass
class UsersStub(UsersService):
    """Accounts by id; the operators are the audience of the service that cannot exist."""

    accounts: dict[int, UserInfo] = field(default_factory=dict)
    unavailable: bool = False

    def add(self, user_id: int, capabilities: frozenset[str] = RESEARCHER) -> UserInfo:
        self.accounts[user_id] = user_info(user_id, capabilities)
        return self.accounts[user_id]

    def user_get(self, *, user_id: int) -> UserInfo:
        self._reachable()
        if user_id not in self.accounts:
            raise UserNotFoundError(str(user_id))
        return self.accounts[user_id]

    def service_permissions(self, *, user_id: int, service_id: int) -> frozenset[str]:
        raise NotImplementedError("monitoring counts accessible services by role, never per service")

    def service_audience(self, *, service_id: int) -> list[int]:
        self._reachable()
        assert service_id == NO_SUCH_SERVICE, "monitoring only asks for the operators"
        return sorted(u for u, info in self.accounts.items() if info.can("view_all_jobs"))

    def credential_token_for_job(self, *, owner_id: int, service_id: int, job_id: str) -> str:
        raise NotImplementedError("monitoring never reads tokens")

    def _reachable(self) -> None:
        from apps.users.public import UsersUnavailableError

        if self.unavailable:
            raise UsersUnavailableError("users deployable unreachable (stub)")


@dataclass
class RegistryStub(RegistryService):
    """Every service is active unless listed as inactive or missing."""

    inactive: set[int] = field(default_factory=set)
    missing: set[int] = field(default_factory=set)

    def service_get(self, *, id_or_slug: int | str) -> ServiceRecord:
        service_id = int(id_or_slug)
        if service_id in self.missing:
            raise ServiceNotFoundError(str(service_id))
        return ServiceRecord(
            id=service_id,
            slug=f"svc-{service_id}",
            name=f"Service {service_id}",
            api_type="cloudgene",
            base_url="http://127.0.0.1:9/",
            app_id="",
            is_active=service_id not in self.inactive,
            requires_auth=True,
            health_status="unhealthy",
            supported_builds=("hg38",),
            supported_formats=("vcf.gz",),
            max_file_size_mb=None,
            max_jobs=None,
            min_samples=None,
            max_samples=None,
            downloads_per_file=None,
            retention_days=None,
        )

    def panel_get(self, *, service_id: int, id_or_slug: int | str) -> PanelRecord:
        raise NotImplementedError("monitoring never reads panels")


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def job_event(
    *,
    status: str,
    job_id: uuid.UUID | None = None,
    user_id: int = 7,
    service_id: int | None = 3,
    created_at: datetime = T0,
    started_at: datetime | None = None,
    completed_at: datetime | None = None,
    occurred_at: datetime | None = None,
    **payload: Any,
) -> Envelope:
    """A `job.status.updated` with the payload the jobs context publishes."""
    job_id = job_id or uuid.uuid4()
    occurred_at = occurred_at or completed_at or started_at or created_at
    body = {
        "job_id": str(job_id),
        "user_id": user_id,
        "service_id": service_id,
        "panel_id": 11,
        "parent_id": None,
        "name": f"job {str(job_id)[:8]}",
        "status": status,
        "stage": "done" if status in ("completed", "failed", "cancelled") else "queued",
        "progress": 100 if status == "completed" else 0,
        "previous_status": None,
        "failure_category": None,
        "message": "",
        "created_at": iso(created_at),
        "started_at": iso(started_at),
        "completed_at": iso(completed_at),
        "occurred_at": iso(occurred_at),
        **payload,
    }
    return Envelope(
        type=JOB_STATUS_UPDATED, source="jobs", aggregate_id=str(job_id), payload=body, occurred_at=occurred_at
    )


def job_make(
    status: str,
    *,
    user_id: int = 7,
    service_id: int | None = 3,
    created_at: datetime = T0,
    queued: float | None = 60.0,
    ran: float | None = 600.0,
    **payload: Any,
) -> JobFact:
    """A job as its last event left it: started `queued` s after creation, finished `ran` s after that."""
    started = created_at + timedelta(seconds=queued) if queued is not None and status != "pending" else None
    finished = status in ("completed", "failed", "cancelled")
    completed = started + timedelta(seconds=ran) if started and ran is not None and finished else None
    fact = job_fact_apply(
        envelope=job_event(
            status=status,
            user_id=user_id,
            service_id=service_id,
            created_at=created_at,
            started_at=started,
            completed_at=completed,
            **payload,
        )
    )
    assert fact is not None
    return fact


def health_event(
    *, service_id: int, status: str, previous: str = "healthy", checked_at: datetime | None = None
) -> Envelope:
    checked_at = checked_at or timezone.now()
    return Envelope(
        type=SERVICE_HEALTH_CHANGED,
        source="registry",
        aggregate_id=str(service_id),
        payload={
            "service_id": service_id,
            "slug": f"svc-{service_id}",
            "name": f"Service {service_id}",
            "previous": previous,
            "status": status,
            "checked_at": iso(checked_at),
            "response_time_ms": 120,
            "message": "" if status == "healthy" else "connection refused",
        },
        occurred_at=checked_at,
    )


def service_make(service_id: int, status: str = "healthy", *, since: datetime | None = None) -> None:
    state = service_state_apply(envelope=health_event(service_id=service_id, status=status, checked_at=since))
    assert state is not None


def upload_event(*, file_id: int, size: int, status: str = "ready", kind: str = "input") -> Envelope:
    return Envelope(
        type=FILE_UPLOAD_COMPLETED,
        source="files",
        aggregate_id=str(file_id),
        payload={
            "file_id": file_id,
            "owner_id": 7,
            "name": f"chr{file_id}.vcf.gz",
            "kind": kind,
            "size": size,
            "sha256": "0" * 64,
            "status": status,
            "job_id": None,
            "errors": [],
            "error_count": 0,
            "warning_count": 0,
        },
    )


def call(method: str, path: str, *, user_id: int | None = None, body: Any = None) -> Any:
    """One request through the whole stack (gateway middleware included), as `user_id` when given."""
    headers = {"Authorization": f"Bearer {access_token(user_id)}"} if user_id is not None else {}
    data = json.dumps(body) if body is not None else ""
    return Client().generic(method, path, data, content_type="application/json", headers=headers)
