"""Fixtures of the contract tests, shared with the contexts' own tests (registered in the root conftest.py).

`users_api` is the users API of one target: the in-process app, or a real gateway process that routes the users
domain to a real users deployable (its own process and database). Tests create what they need through the
API as the target's admin, with unique names, so the long-lived remote database never leaks between tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from apps.users.tests.factories import PASSWORD, user_make
from apps.users.tokens import token_pair_issue
from tests.contract.targets import HttpTarget, InProcessTarget, Reply, Target
from tests.servers import Server, deployable_env, deployable_start, manage, server_start

ADMIN = {"ADMIN_USERNAME": "deploy-admin", "ADMIN_EMAIL": "admin@example.org", "ADMIN_PASSWORD": PASSWORD}
USERS_PREFIXES = [
    "/api/auth/",
    "/api/users/",
    "/api/roles/",
    "/api/profiles/",
    "/api/permissions/",
    "/api/groups/",
    "/api/credentials/",
    "/api/audit-logs/",
]
USERS_ANONYMOUS = ["/api/auth/login/", "/api/auth/refresh/", "/api/auth/register/"]


@dataclass
class UsersApi:
    """One target's users API with its admin signed in."""

    target: Target
    admin_token: str

    @property
    def name(self) -> str:
        return self.target.name

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = None, **headers: str) -> Reply:
        return self.target.call(method, path, body, token=token, headers=headers)

    def ok(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> Any:
        """The body of a call that must succeed (as the admin unless `token` is given)."""
        reply = self.target.call(method, path, body, token=token or self.admin_token)
        assert reply.status < 300, (method, path, reply.status, reply.body)
        return reply.body

    def user_new(self, role: str = "researcher") -> tuple[int, str]:
        """A new account made by the admin, and an access token from logging it in."""
        name = f"c-{uuid.uuid4().hex[:12]}"
        body = {"username": name, "email": f"{name}@example.org", "password": PASSWORD, "role": role}
        created = self.ok("POST", "/api/users/", body)
        login = self.target.call("POST", "/api/auth/login/", {"username": name, "password": PASSWORD})
        return created["id"], login.body["access"]


@pytest.fixture(scope="session")
def users_deployable(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Iterator[Server]:
    """The users context as its own deployable: a real process on its own embedded database."""
    var_dir: Path = tmp_path_factory.mktemp("users-deployable")
    server = deployable_start("users", var_dir)
    manage("users_create_admin", env=deployable_env("users", var_dir, **ADMIN))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def users_gateway(tmp_path_factory: pytest.TempPathFactory, users_deployable: Server) -> Iterator[Server]:
    """A real gateway process whose route table sends the users domain to the users deployable."""
    routes = tmp_path_factory.mktemp("users-gateway") / "routes.toml"
    routes.write_text(
        "[domains.users]\n"
        f"prefixes = {USERS_PREFIXES!r}\n"
        f"anonymous = {USERS_ANONYMOUS!r}\n"
        'target = "remote"\n'
        f'upstreams = ["{users_deployable.url}"]\n'
    )
    server = server_start({"DEPLOYABLE": "", "DEPLOYABLE_URLCONF": "", "GATEWAY_ROUTES_FILE": str(routes)})
    yield server
    server.stop()


@pytest.fixture(params=["app", "remote"])
def users_api(request: pytest.FixtureRequest) -> UsersApi:
    if request.param == "app":
        admin = user_make(role="admin")
        return UsersApi(InProcessTarget(), token_pair_issue(user=admin).access)
    gateway: Server = request.getfixturevalue("users_gateway")
    target = HttpTarget("remote", gateway.url)
    login = target.call(
        "POST", "/api/auth/login/", {"username": ADMIN["ADMIN_USERNAME"], "password": ADMIN["ADMIN_PASSWORD"]}
    )
    assert login.status == 200, login.body
    return UsersApi(target, login.body["access"])
