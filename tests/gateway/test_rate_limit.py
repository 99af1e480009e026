"""Rate limits at the edge against a real Redis: per address when anonymous, per user when authenticated."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.test import AsyncClient
from prometheus_client import REGISTRY

from gateway import edge
from tests.gateway.conftest import access_token, fresh_window

pytestmark = pytest.mark.redis

TABLE = """
[rate_limits]
window_seconds = 60
per_ip = 3
per_user = 5
fail_open = {fail_open}

[domains.jobs]
prefixes = ["/api/jobs/"]
target = "app"
anonymous = ["/api/jobs/plain/"]
"""
REQUEST_ID = "req-rate-limit-1"


class ClientFrom(AsyncClient):
    """An AsyncClient whose requests come from `ip` (the ASGI scope's client, hence REMOTE_ADDR)."""

    def __init__(self, ip: str) -> None:
        super().__init__()
        self.ip = ip

    async def request(self, **request: Any) -> Any:
        return await super().request(**{**request, "client": [self.ip, 0]})

    async def hit(self, path: str, token: str | None = None) -> Any:
        headers = {"X-Request-ID": REQUEST_ID}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return await self.get(path, headers=headers)


@pytest.fixture
def limits(routes_file: Callable[[str], Path], settings: Any, redis_server: str) -> Iterator[Callable[[bool], None]]:
    """Writes the low-limit table; counters live under a prefix of this test's own and are deleted afterwards."""
    prefix = f"test-rl-{uuid.uuid4().hex[:12]}:"
    settings.GATEWAY_REDIS_PREFIX = prefix

    def write(fail_open: bool = True) -> None:
        routes_file(TABLE.format(fail_open=str(fail_open).lower()))

    write()
    yield write
    client = redis.Redis.from_url(redis_server)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_down(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.REDIS_URL = f"unix://{tmp_path}/nobody-listens.sock"
    monkeypatch.setattr(edge, "_last_warning", 0.0)  # an earlier test's warning must not mute this one's


def user_token() -> str:
    return access_token(f"rl-{uuid.uuid4().hex[:12]}")


def assert_limited(response: Any, limit: str) -> None:
    assert response.status_code == 429
    assert response.json() == {
        "error": {"code": "RATE_LIMIT_EXCEEDED", "message": "Too many requests; retry after the time in Retry-After."},
        "request_id": REQUEST_ID,
    }
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response["X-RateLimit-Reset"] == response["Retry-After"]
    assert response["X-RateLimit-Limit"] == limit
    assert response["X-RateLimit-Remaining"] == "0"
    assert response["X-Request-ID"] == REQUEST_ID


# --- per address ------------------------------------------------------------------------------------------


async def test_the_fourth_anonymous_request_from_one_address_is_refused(limits: Callable[[bool], None]) -> None:
    await fresh_window()
    client = ClientFrom("10.9.1.1")

    served = [await client.hit("/api/jobs/plain/") for _ in range(3)]
    refused = await client.hit("/api/jobs/plain/")

    assert [r.status_code for r in served] == [200, 200, 200]
    assert [r.content for r in served] == [b"ok", b"ok", b"ok"]
    assert [r["X-RateLimit-Limit"] for r in served] == ["3", "3", "3"]
    assert [r["X-RateLimit-Remaining"] for r in served] == ["2", "1", "0"]
    assert all(1 <= int(r["X-RateLimit-Reset"]) <= 60 for r in served)
    assert not any(r.has_header("Retry-After") for r in served)
    assert_limited(refused, "3")


async def test_requests_over_the_limit_keep_being_refused(limits: Callable[[bool], None]) -> None:
    await fresh_window()
    client = ClientFrom("10.9.1.2")
    for _ in range(3):
        await client.hit("/api/jobs/plain/")

    refused = [await client.hit("/api/jobs/plain/") for _ in range(3)]

    for response in refused:
        assert_limited(response, "3")


async def test_a_window_counter_expires_soon_after_its_window_even_one_that_had_lost_its_expiry(
    limits: Callable[[bool], None], settings: Any, redis_server: str
) -> None:
    # given this window's counter for an address, left without an expiry (by a failure half-way, say)
    await fresh_window()
    store = redis.Redis.from_url(redis_server)
    key = f"{settings.GATEWAY_REDIS_PREFIX}rl:ip:10.9.1.9:{int(time.time() // 60)}"
    store.set(key, 1)
    # when two more requests come from that address
    client = ClientFrom("10.9.1.9")
    for _ in range(2):
        await client.hit("/api/jobs/plain/")
    # then the counter holds all three, and it expires a little after the 60 s window, not never
    assert int(store.get(key) or 0) == 3
    assert 58 <= store.ttl(key) <= 61
    store.close()


async def test_another_address_is_unaffected(limits: Callable[[bool], None]) -> None:
    await fresh_window()
    busy = ClientFrom("10.9.2.1")
    for _ in range(4):
        await busy.hit("/api/jobs/plain/")

    other = await ClientFrom("10.9.2.2").hit("/api/jobs/plain/")
    still_busy = await busy.hit("/api/jobs/plain/")

    assert other.status_code == 200
    assert (other["X-RateLimit-Limit"], other["X-RateLimit-Remaining"]) == ("3", "2")
    assert_limited(still_busy, "3")


# --- per user ---------------------------------------------------------------------------------------------


async def test_one_user_shares_one_budget_across_addresses(limits: Callable[[bool], None]) -> None:
    await fresh_window()
    token = user_token()
    first, second = ClientFrom("10.9.3.1"), ClientFrom("10.9.3.2")

    served = [await (first if n % 2 else second).hit("/api/jobs/echo/", token) for n in range(5)]
    refused_here = await first.hit("/api/jobs/echo/", token)
    refused_there = await second.hit("/api/jobs/echo/", token)

    assert [r.status_code for r in served] == [200] * 5
    assert [r["X-RateLimit-Limit"] for r in served] == ["5"] * 5
    assert [r["X-RateLimit-Remaining"] for r in served] == ["4", "3", "2", "1", "0"]
    assert served[0].json()["path"] == "/api/jobs/echo/"
    assert_limited(refused_here, "5")
    assert_limited(refused_there, "5")


async def test_the_user_limit_is_independent_of_the_address_limit(limits: Callable[[bool], None]) -> None:
    await fresh_window()
    client = ClientFrom("10.9.4.1")
    token = user_token()

    as_user = [await client.hit("/api/jobs/echo/", token) for _ in range(5)]  # more than per_ip = 3
    anonymous = await client.hit("/api/jobs/plain/")

    assert [r.status_code for r in as_user] == [200] * 5
    assert anonymous.status_code == 200
    assert (anonymous["X-RateLimit-Limit"], anonymous["X-RateLimit-Remaining"]) == ("3", "2")


async def test_another_user_from_the_same_address_is_unaffected(limits: Callable[[bool], None]) -> None:
    await fresh_window()
    client = ClientFrom("10.9.5.1")
    busy = user_token()
    for _ in range(6):
        await client.hit("/api/jobs/echo/", busy)

    other = await client.hit("/api/jobs/echo/", user_token())

    assert other.status_code == 200
    assert (other["X-RateLimit-Limit"], other["X-RateLimit-Remaining"]) == ("5", "4")


# --- Redis down -------------------------------------------------------------------------------------------


async def test_with_redis_down_requests_are_served_unlimited_and_one_warning_is_logged(
    limits: Callable[[bool], None], redis_down: None, caplog: pytest.LogCaptureFixture
) -> None:
    client = ClientFrom("10.9.6.1")

    with caplog.at_level(logging.WARNING, logger="gateway.edge"):
        responses = [await client.hit("/api/jobs/plain/") for _ in range(5)]

    assert [r.status_code for r in responses] == [200] * 5  # more than per_ip = 3: nothing is counted
    assert [r.content for r in responses] == [b"ok"] * 5
    for response in responses:
        assert not response.has_header("X-RateLimit-Limit")
        assert not response.has_header("X-RateLimit-Remaining")
        assert not response.has_header("Retry-After")
    warnings = [r for r in caplog.records if r.name == "gateway.edge" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].getMessage().startswith("rate limiting unavailable (ConnectionError: ")
    assert warnings[0].getMessage().endswith("; serving")


async def test_with_redis_down_and_fail_closed_requests_are_refused_with_503(
    limits: Callable[[bool], None], redis_down: None, caplog: pytest.LogCaptureFixture
) -> None:
    limits(False)
    client = ClientFrom("10.9.7.1")

    with caplog.at_level(logging.WARNING, logger="gateway.edge"):
        responses = [await client.hit("/api/jobs/plain/") for _ in range(3)]

    for response in responses:
        assert response.status_code == 503
        assert response.json() == {
            "error": {"code": "SERVICE_UNAVAILABLE", "message": "Rate limiting is unavailable; try again shortly."},
            "request_id": REQUEST_ID,
        }
        assert not response.has_header("X-RateLimit-Limit")
    warnings = [r for r in caplog.records if r.name == "gateway.edge" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].getMessage().endswith("; refusing")


async def test_fail_closed_also_refuses_an_authenticated_user(limits: Callable[[bool], None], redis_down: None) -> None:
    limits(False)

    response = await ClientFrom("10.9.7.2").hit("/api/jobs/echo/", user_token())

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


def responses_counted(status_class: str) -> float:
    labels = {"domain": "jobs", "target": "edge", "status_class": status_class}
    return REGISTRY.get_sample_value("gateway_responses_total", labels) or 0.0


async def test_a_429_is_counted_as_a_4xx_edge_response(limits: Callable[[bool], None]) -> None:
    await fresh_window()
    client = ClientFrom("10.9.8.1")
    for _ in range(3):
        await client.hit("/api/jobs/plain/")
    before = responses_counted("4xx")

    await client.hit("/api/jobs/plain/")

    assert responses_counted("4xx") == before + 1


async def test_a_fail_closed_503_is_counted_as_a_5xx_edge_response(
    limits: Callable[[bool], None], redis_down: None
) -> None:
    limits(False)
    before = responses_counted("5xx")

    response = await ClientFrom("10.9.8.2").hit("/api/jobs/plain/")

    assert response.status_code == 503
    assert responses_counted("5xx") == before + 1
