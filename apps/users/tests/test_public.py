"""The users context's public interface: the in-process and the remote implementation pass the same tests.

Each test sets its world up through the users REST API of one target (the in-process app, or a real gateway in
front of a real users deployable on its own database) and then asks the public interface reading that same
database: locally `LocalUsersService`, remotely `RemoteUsersService` over HTTP with internal service tokens.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.kernel.internal_auth import INTERNAL_TOKEN_HEADER, internal_token_issue
from apps.users.impl import LocalUsersService
from apps.users.public import (
    CredentialExpiredError,
    CredentialMissingError,
    UserNotFoundError,
    UsersService,
    UsersUnavailableError,
)
from apps.users.remote import RemoteUsersService
from apps.users.tests.factories import PASSWORD
from tests.contract.fixtures import ADMIN, UsersApi
from tests.contract.targets import HttpTarget, InProcessTarget
from tests.servers import Server, free_port

pytestmark = [pytest.mark.django_db(databases=["users"]), pytest.mark.redis]


@dataclass
class World:
    """A target's users API, and the public interface implementation that reads the same users database."""

    api: UsersApi
    service: UsersService

    def ok(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> Any:
        return self.api.ok(method, path, body, token=token)

    def user_new(self, role: str = "researcher") -> tuple[int, str]:
        return self.api.user_new(role)


@pytest.fixture
def world(users_api: UsersApi, request: pytest.FixtureRequest) -> World:
    """`local` against the in-process app; `remote` over HTTP to the users deployable behind the remote gateway."""
    if users_api.name == "app":
        return World(users_api, LocalUsersService())
    deployable: Server = request.getfixturevalue("users_deployable")
    return World(users_api, RemoteUsersService(base_url=deployable.url))


def _service_id() -> int:
    return 1000 + uuid.uuid4().int % 1_000_000


def test_user_get_returns_role_capabilities_and_quotas(world: World) -> None:
    user_id, _ = world.user_new(role="service_admin")
    world.ok("PATCH", f"/api/users/{user_id}/", {"profile": {"monthly_job_quota": 7, "timezone": "Africa/Nairobi"}})

    info = world.service.user_get(user_id=user_id)

    assert info.id == user_id
    assert info.role == "service_admin"
    assert info.is_active is True
    assert info.capabilities == {
        "manage_services",
        "manage_permissions",
        "view_all_jobs",
        "submit_jobs",
        "view_services",
    }
    assert info.can("manage_services") and not info.can("manage_users")
    assert (info.quotas.monthly_jobs, info.quotas.storage_bytes) == (7, 50 * 1024**3)
    assert info.timezone == "Africa/Nairobi"


def test_a_deactivated_user_has_no_capabilities(world: World) -> None:
    user_id, _ = world.user_new()
    world.ok("POST", f"/api/users/{user_id}/toggle_active/", {})

    info = world.service.user_get(user_id=user_id)

    assert info.is_active is False
    assert info.capabilities == frozenset()


def test_an_unknown_user_is_user_not_found(world: World) -> None:
    with pytest.raises(UserNotFoundError):
        world.service.user_get(user_id=987_654_321)


def test_service_permissions_follow_role_grants_and_groups(world: World) -> None:
    service_id, other_service = _service_id(), _service_id()
    user_id, _ = world.user_new(role="service_user")
    assert world.service.service_permissions(user_id=user_id, service_id=service_id) == {"view"}

    world.ok("POST", "/api/permissions/", {"user_id": user_id, "service_id": service_id, "permission": "submit_jobs"})
    group = world.ok(
        "POST", "/api/groups/", {"name": "operators", "service_id": service_id, "permissions": ["view_jobs"]}
    )
    world.ok("POST", f"/api/groups/{group['id']}/members/", {"user_id": user_id})

    assert world.service.service_permissions(user_id=user_id, service_id=service_id) == {
        "view",
        "submit_jobs",
        "view_jobs",
    }
    assert world.service.service_permission_has(user_id=user_id, service_id=service_id, permission="submit_jobs")
    assert not world.service.service_permission_has(user_id=user_id, service_id=other_service, permission="submit_jobs")


def test_service_audience_is_the_admins_and_the_active_users_granted_on_that_service(world: World) -> None:
    service_id, other_service = _service_id(), _service_id()
    service_admin, _ = world.user_new(role="service_admin")
    granted, _ = world.user_new(role="service_user")
    member, _ = world.user_new(role="viewer")
    bystander, _ = world.user_new()
    elsewhere, _ = world.user_new()
    deactivated, _ = world.user_new()
    for user_id, service in ((granted, service_id), (elsewhere, other_service), (deactivated, service_id)):
        world.ok("POST", "/api/permissions/", {"user_id": user_id, "service_id": service, "permission": "view"})
    world.ok("POST", f"/api/users/{deactivated}/toggle_active/", {})
    group = world.ok("POST", "/api/groups/", {"name": "consortium", "service_id": service_id, "permissions": ["view"]})
    world.ok("POST", f"/api/groups/{group['id']}/members/", {"user_id": member})

    audience = world.service.service_audience(service_id=service_id)

    mine = (service_admin, granted, member, bystander, elsewhere, deactivated)
    assert {user_id: user_id in audience for user_id in mine} == {
        service_admin: True,
        granted: True,
        member: True,
        bystander: False,
        elsewhere: False,
        deactivated: False,
    }
    assert audience == sorted(set(audience))


def test_credential_token_for_job_returns_the_owners_decrypted_token(world: World) -> None:
    service_id = _service_id()
    user_id, access = world.user_new()
    secret = f"tok-{uuid.uuid4().hex}"
    world.ok("POST", "/api/credentials/", {"service_id": service_id, "token": secret}, token=access)

    token = world.service.credential_token_for_job(owner_id=user_id, service_id=service_id, job_id="job-1")

    assert token == secret
    listed = world.ok("GET", "/api/credentials/", token=access)["results"]
    assert listed[0]["last_used_at"] is not None
    assert secret not in str(listed)


def test_a_missing_credential_is_credential_missing(world: World) -> None:
    user_id, _ = world.user_new()

    with pytest.raises(CredentialMissingError):
        world.service.credential_token_for_job(owner_id=user_id, service_id=_service_id(), job_id="job-2")


def test_an_expired_credential_is_credential_expired(world: World) -> None:
    service_id = _service_id()
    user_id, access = world.user_new()
    soon = (timezone.now() + timedelta(seconds=1)).isoformat()
    world.ok(
        "POST",
        "/api/credentials/",
        {"service_id": service_id, "token": "tok-short-lived", "expires_at": soon},
        token=access,
    )
    time.sleep(1.2)

    with pytest.raises(CredentialExpiredError):
        world.service.credential_token_for_job(owner_id=user_id, service_id=service_id, job_id="job-3")


def test_only_the_jobs_side_may_read_tokens_over_http(users_deployable: Server, settings: Any) -> None:
    target = HttpTarget("remote", users_deployable.url)
    settings.DEPLOYABLE = "registry"  # the internal token names its issuer: a registry deployable here
    headers = {INTERNAL_TOKEN_HEADER: internal_token_issue(audience="users")}

    refused = target.call("POST", "/internal/users/1/credentials/1/token/", {"job_id": "x"}, headers=headers)

    assert refused.status == 403
    assert refused.body["error"]["code"] == "AUTHORIZATION_ERROR"
    assert "token" not in refused.body


def test_internal_endpoints_refuse_callers_without_an_internal_token(users_deployable: Server) -> None:
    target = HttpTarget("remote", users_deployable.url)
    admin = target.call("POST", "/api/auth/login/", {"username": ADMIN["ADMIN_USERNAME"], "password": PASSWORD})

    anonymous = target.call("GET", "/internal/users/1/")
    with_user_jwt = target.call("GET", "/internal/users/1/", token=admin.body["access"])

    assert anonymous.status == with_user_jwt.status == 401
    assert with_user_jwt.body["error"]["code"] == "AUTHENTICATION_ERROR"


def test_the_internal_endpoints_are_not_routed_by_the_gateway() -> None:
    reply = InProcessTarget().call("GET", "/internal/users/1/")

    assert reply.status == 404
    assert reply.body["error"]["code"] == "NOT_FOUND"


def test_an_unreachable_users_deployable_is_users_unavailable() -> None:
    service = RemoteUsersService(base_url=f"http://127.0.0.1:{free_port()}", timeout=1)

    with pytest.raises(UsersUnavailableError):
        service.user_get(user_id=1)
