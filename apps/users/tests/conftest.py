"""Fixtures of the users context's tests: gateway rate-limit counters of each test's own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis


@pytest.fixture(autouse=True)
def own_rate_limit_counters(request: pytest.FixtureRequest, settings: Any) -> Iterator[None]:
    settings.GATEWAY_REDIS_PREFIX = f"test-users-{uuid.uuid4().hex[:12]}:"
    uses_redis = request.node.get_closest_marker("redis") is not None
    if uses_redis:
        request.getfixturevalue("redis_server")
    yield
    if uses_redis:
        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=f"{settings.GATEWAY_REDIS_PREFIX}*"))
        if keys:
            client.delete(*keys)
