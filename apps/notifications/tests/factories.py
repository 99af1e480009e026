"""Building blocks of the notifications tests: a users context answered by a stub of its public interface,
events as other contexts publish them, callers' tokens, and a settable clock.

The notifications context asks the users context who a recipient is (address, time zone, e-mail switch) and who
hears about a service. These tests answer for it with `UsersStub`, holding the few accounts a test declares
(this context's tests touch only the notifications database); the real users context answers the same
questions in apps/users/tests/test_public.py, locally and over HTTP.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.test import Client
from django.utils import timezone

from apps.kernel.envelope import JOB_STATUS_UPDATED, NOTIFICATION_SEND, SERVICE_HEALTH_CHANGED, Envelope
from apps.users.public import Quotas, UserInfo, UserNotFoundError, UsersService
from tests.gateway.conftest import access_token


def user_info(user_id: int, **fields: Any) -> UserInfo:
    info = UserInfo(
        id=user_id,
        username=f"user{user_id}",
        email=f"user{user_id}@example.org",
        first_name="",
        last_name="",
        role="researcher",
        is_active=True,
        is_staff=False,
        capabilities=frozenset({"submit_jobs", "view_services"}),
        timezone="UTC",
        email_notifications=True,
        quotas=Quotas(monthly_jobs=100, storage_bytes=1),
    )
    return replace(info, **fields)


@dataclass
class UsersStub(UsersService):
    """The users context's public interface over dicts: accounts by id, and each service's audience."""

    accounts: dict[int, UserInfo] = field(default_factory=dict)
    audiences: dict[int, list[int]] = field(default_factory=dict)

    def add(self, user_id: int, **fields: Any) -> UserInfo:
        self.accounts[user_id] = user_info(user_id, **fields)
        return self.accounts[user_id]

    def user_get(self, *, user_id: int) -> UserInfo:
        if user_id not in self.accounts:
            raise UserNotFoundError(str(user_id))
        return self.accounts[user_id]

    def service_permissions(self, *, user_id: int, service_id: int) -> frozenset[str]:
        return frozenset({"view"})

    def service_audience(self, *, service_id: int) -> list[int]:
        return sorted(self.audiences.get(service_id, []))

    def credential_token_for_job(self, *, owner_id: int, service_id: int, job_id: str) -> str:
        raise NotImplementedError("the notifications context never reads tokens")


@dataclass
class Clock:
    """What django.utils.timezone.now answers while the `clock` fixture is on."""

    now: datetime

    def set(self, moment: datetime) -> None:
        self.now = moment


def job_event(
    *,
    user_id: int,
    status: str,
    job_id: str = "",
    service_id: int = 3,
    occurred_at: datetime | None = None,
    **extra: Any,
) -> Envelope:
    job_id = job_id or f"job-{uuid.uuid4().hex[:8]}"
    return Envelope(
        type=JOB_STATUS_UPDATED,
        source="jobs",
        aggregate_id=job_id,
        payload={"job_id": job_id, "service_id": service_id, "user_id": user_id, "status": status, **extra},
        occurred_at=occurred_at or timezone.now(),
    )


def health_event(*, service_id: int, previous: str, status: str, message: str = "") -> Envelope:
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
            "message": message,
        },
    )


def send_event(**payload: Any) -> Envelope:
    return Envelope(type=NOTIFICATION_SEND, source="monitoring", aggregate_id="alert-1", payload=payload)


def auth(user_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token(user_id)}"}


def call(method: str, path: str, body: Any = None, *, user_id: int | None = None) -> Any:
    """One request through the whole stack (gateway middleware included), as `user_id` when given."""
    headers = auth(user_id) if user_id is not None else {}
    data = json.dumps(body) if body is not None else ""
    return Client().generic(method, path, data, content_type="application/json", headers=headers)


def notification_make(user_id: int, title: str = "Job done", **fields: Any) -> Any:
    """A notification as the consumers make them (preferences applied), with a key of its own."""
    from apps.notifications.services.notifications import notifications_create

    values: dict[str, Any] = {"type": "job_update", "message": "", "data": {}, "priority": "normal", **fields}
    created = notifications_create(user_ids=[user_id], title=title, dedupe_key=uuid.uuid4().hex, **values)
    return created[0] if created else None
