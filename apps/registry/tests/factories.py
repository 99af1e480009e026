"""Building blocks of the registry tests: services made through the services, and callers.

The registry asks the users context who may manage services and who may submit where, through
apps.users.public. These unit tests answer for it with `UsersStub`, an implementation of that public interface
holding the few accounts a test declares; the real users context is exercised across the boundary by the
contract tests (tests/contract/test_registry*.py), in-process and over HTTP.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from apps.registry.models import ImputationService
from apps.registry.services.services import service_create
from apps.users.public import Quotas, UserInfo, UserNotFoundError, UsersService
from tests.gateway.conftest import access_token

MANAGERS = frozenset({"admin", "service_admin"})
_ids = itertools.count(10_000)


def service_make(**fields: Any) -> ImputationService:
    slug = fields.pop("slug", f"svc-{uuid.uuid4().hex[:8]}")
    values: dict[str, Any] = {
        "name": f"Service {slug}",
        "slug": slug,
        "api_type": "cloudgene",
        "base_url": "http://127.0.0.1:9/",
        "app_id": "imputationserver2",
        **fields,
    }
    state = {name: values.pop(name) for name in list(values) if name.startswith("health_")}
    service = service_create(actor_id=None, fields=values)
    if state:  # health is recorded by probes, never registered: set it behind the service's back
        ImputationService.objects.filter(pk=service.pk).update(**state)
        service.refresh_from_db()
    return service


class UsersStub(UsersService):
    """The users context's public interface over a dict: role per user, and services each may submit to."""

    def __init__(self) -> None:
        self.roles: dict[int, str] = {}
        self.submit_on: dict[int, set[int]] = {}

    def caller(self, role: str, *, submit_on: set[int] | None = None) -> dict[str, str]:
        """Authorization headers of a new account with that role."""
        user_id = next(_ids)
        self.roles[user_id] = role
        self.submit_on[user_id] = submit_on or set()
        return {"Authorization": f"Bearer {access_token(user_id, role=role)}"}

    def user_get(self, *, user_id: int) -> UserInfo:
        if user_id not in self.roles:
            raise UserNotFoundError(str(user_id))
        role = self.roles[user_id]
        return UserInfo(
            id=user_id,
            username=f"user{user_id}",
            email="",
            first_name="",
            last_name="",
            role=role,
            is_active=True,
            is_staff=role == "admin",
            capabilities=frozenset({"manage_services"} if role in MANAGERS else set()),
            timezone="UTC",
            email_notifications=True,
            quotas=Quotas(monthly_jobs=100, storage_bytes=1),
        )

    def service_permissions(self, *, user_id: int, service_id: int) -> frozenset[str]:
        return frozenset({"view", "submit_jobs"} if service_id in self.submit_on.get(user_id, set()) else {"view"})

    def credential_token_for_job(self, *, owner_id: int, service_id: int, job_id: str) -> str:
        raise NotImplementedError("the registry never reads tokens")
