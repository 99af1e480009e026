"""Fixtures for the gateway: route tables written per test, real upstream processes on loopback, access tokens."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import redis
from django.conf import settings as django_settings
from django.utils import timezone

from gateway.api import ops_redis
from gateway.routes import route_table_reset
from tests.servers import ROOT, Server, free_port, server_start

__all__ = ["ROOT", "Server", "free_port"]  # the gateway tests import these from here
Upstream = Server

UPSTREAM_URLCONF = "tests.gateway.upstream_urls"
JOBS_TABLE = """
[domains.jobs]
prefixes = ["/api/jobs/"]
target = "{target}"
anonymous = ["/api/jobs/plain/"]
"""  # the route table most gateway tests start from: jobs on one target, /api/jobs/plain/ open to all


def upstream_start(port: int | None = None, deployable: str = "jobs", urlconf: str = UPSTREAM_URLCONF) -> Server:
    """A real server process serving the test upstream (or a real context's URLconf) as a deployable."""
    return server_start({"DEPLOYABLE": deployable, "DEPLOYABLE_URLCONF": urlconf}, port=port)


def gateway_start(routes: Path, *, log: Path | None = None, **env_overrides: str) -> Server:
    """A real gateway process (the monolith) whose route table is `routes`; jobs' app target is the test URLconf."""
    env = {
        "DEPLOYABLE": "",
        "DEPLOYABLE_URLCONF": "",
        "GATEWAY_ROUTES_FILE": str(routes),
        "GATEWAY_APP_URLCONFS": f"jobs={UPSTREAM_URLCONF}",
    }
    return server_start({**env, **env_overrides}, log=log)


@pytest.fixture
def gateway_redis(settings: Any, redis_server: str) -> Iterator[redis.Redis]:
    """The gateway's Redis keys under a prefix of this test's own, deleted afterwards."""
    settings.GATEWAY_REDIS_PREFIX = f"test-{uuid.uuid4().hex[:12]}:"
    client: redis.Redis = ops_redis()
    yield client
    keys = list(client.scan_iter(match=f"{settings.GATEWAY_REDIS_PREFIX}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    server = upstream_start()
    yield server
    server.stop()


@pytest.fixture
def routes_file(tmp_path: Path, settings: Any) -> Iterator[Callable[[str], Path]]:
    """Write a route table and make it the one in force; returns the writer so tests can edit it."""
    path = tmp_path / "routes.toml"

    def write(text: str) -> Path:
        path.write_text(text)
        return path

    settings.GATEWAY_ROUTES_FILE = str(path)
    settings.GATEWAY_APP_URLCONFS = {"jobs": UPSTREAM_URLCONF}
    route_table_reset()
    yield write
    route_table_reset()


async def fresh_window() -> None:
    """Rate-limit counters are per fixed 60 s window: don't start a sequence that a window boundary would cut in two."""
    left = 60 - time.time() % 60
    if left < 3:
        await asyncio.sleep(left + 0.05)


def access_token(user_id: int | str = 7, *, lifetime: timedelta = timedelta(minutes=5), **extra: Any) -> str:
    """An RS256 access token shaped like simplejwt's, signed with this deployment's private key."""
    now = timezone.now()
    claims = {"token_type": "access", "user_id": str(user_id), "iat": now, "exp": now + lifetime, "jti": "t", **extra}
    return jwt.encode(claims, django_settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="RS256")


async def body_of(response: Any) -> bytes:
    """The whole body of a test-client response, streamed (a proxied one) or not."""
    if response.streaming:
        return b"".join([chunk async for chunk in response.streaming_content])
    return bytes(response.content)


async def json_of(response: Any) -> Any:
    return json.loads(await body_of(response))
