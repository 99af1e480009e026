"""Shadow traffic through the whole stack: the caller gets the primary's answer while a mirrored GET goes to the
shadow target in the background; the two are compared, counted, and diffs logged and kept in Redis.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from django.test import AsyncClient
from prometheus_client import REGISTRY

from gateway.api import ops_redis
from gateway.routes import route_table_reset
from gateway.shadow import MAX_BODY_BYTES, Reply, diffs_key, json_differences, replies_compare, shadow_drain
from tests.gateway.conftest import UPSTREAM_URLCONF, Upstream, access_token, free_port, gateway_start
from tests.gateway.upstream_urls import blob_bytes

TABLE = """
[domains.jobs]
prefixes = ["/api/jobs/"]
target = "{target}"
upstreams = ["{upstream}"]
{shadow}
"""
pytestmark = pytest.mark.redis

OUTCOMES = ("same", "diff", "error")


def table(upstream: str, *, target: str = "app", shadow: str = "") -> str:
    return TABLE.format(target=target, upstream=upstream, shadow=f"shadow = {{ {shadow} }}" if shadow else "")


def auth(request_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token(7)}", "X-Request-ID": request_id}


def comparisons() -> dict[str, float]:
    return {
        outcome: REGISTRY.get_sample_value("gateway_shadow_comparisons_total", {"domain": "jobs", "outcome": outcome})
        or 0.0
        for outcome in OUTCOMES
    }


def counted(before: dict[str, float], **increments: int) -> dict[str, float]:
    return {outcome: before[outcome] + increments.get(outcome, 0) for outcome in OUTCOMES}


@pytest.fixture
def diffs(settings: Any, redis_server: str) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Gateway keys under a prefix of this test's own; returns a reader of the kept diffs, newest first."""
    settings.GATEWAY_REDIS_PREFIX = f"test-{uuid.uuid4().hex[:12]}:"
    client: redis.Redis = ops_redis()

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in client.lrange(diffs_key(), 0, -1)]

    yield read
    keys = list(client.scan_iter(match=f"{settings.GATEWAY_REDIS_PREFIX}*"))
    if keys:
        client.delete(*keys)


async def body_of(response: Any) -> bytes:
    """All of a streamed response (consumed as a server would: that is when the shadow's copy ends)."""
    if not response.streaming:
        return bytes(response.content)
    if response.is_async:
        return b"".join([chunk async for chunk in response.streaming_content])
    return b"".join(response.streaming_content)


def shadow_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "gateway.shadow"]


async def test_the_response_comes_from_the_primary_and_is_unchanged_by_the_shadow(
    routes_file: Callable[[str], Path], upstream: Upstream, diffs: Callable[[], list[dict[str, Any]]]
) -> None:
    headers = auth("req-shadow-plain")  # one token: two minted in different seconds would differ
    routes_file(table(upstream.url))
    plain = await AsyncClient().get("/api/jobs/echo/", headers=headers)
    routes_file(table(upstream.url, shadow='target = "remote"'))
    route_table_reset()  # in force at once, not at the next reload check
    before = comparisons()

    mirrored = await AsyncClient().get("/api/jobs/echo/", headers=headers)
    await shadow_drain()

    assert mirrored.status_code == plain.status_code == 200
    assert mirrored.json() == plain.json()  # the echo of the caller's request, not of the mirrored one
    assert "x-shadow" not in mirrored.json()["headers"]
    assert sorted(name for name, _ in mirrored.items()) == sorted(name for name, _ in plain.items())
    assert comparisons() == counted(before, diff=1)  # the remote echo also sees what the gateway adds
    differences = set(diffs()[0]["differences"])
    assert {'$.headers["x-shadow"]', '$.headers["x-forwarded-for"]'} <= differences
    assert not {"$.headers.authorization", '$.headers["x-request-id"]', "$.method", "$.path"} & differences


async def test_a_remote_shadow_ignoring_the_volatile_field_counts_same_and_keeps_no_diff(
    routes_file: Callable[[str], Path], upstream: Upstream, diffs: Callable[[], list[dict[str, Any]]]
) -> None:
    routes_file(table(upstream.url, shadow='target = "remote", volatile = ["generated_at"]'))
    before = comparisons()

    response = await AsyncClient().get("/api/jobs/items/3/", headers=auth("req-shadow-same"))
    await shadow_drain()

    body = response.json()
    assert response.status_code == 200
    assert sorted(body) == ["generated_at", "id", "name"]
    assert (body["id"], body["name"]) == (3, "item 3")
    assert comparisons() == counted(before, same=1)
    assert diffs() == []


async def test_a_remote_shadow_differing_in_a_field_is_counted_logged_and_kept(
    routes_file: Callable[[str], Path],
    upstream: Upstream,
    diffs: Callable[[], list[dict[str, Any]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    routes_file(table(upstream.url, shadow='target = "remote"'))
    before = comparisons()

    with caplog.at_level(logging.WARNING, logger="gateway.shadow"):
        response = await AsyncClient().get("/api/jobs/items/3/?view=full", headers=auth("req-shadow-diff-1"))
        await shadow_drain()

    assert response.status_code == 200 and response.json()["name"] == "item 3"
    assert comparisons() == counted(before, diff=1)
    [kept] = diffs()
    at = kept.pop("at")
    assert datetime.fromisoformat(at).tzinfo is not None
    assert kept == {
        "domain": "jobs",
        "method": "GET",
        "path": "/api/jobs/items/3/?view=full",
        "primary_target": "app",
        "shadow_target": "remote",
        "status": [200, 200],
        "differences": ["$.generated_at"],
        "request_id": "req-shadow-diff-1",
    }
    [logged] = shadow_records(caplog)
    assert logged.levelno == logging.WARNING
    assert logged.getMessage() == "shadow diff " + ops_redis().lindex(diffs_key(), 0)


async def test_an_in_process_shadow_answering_another_status_is_a_diff(
    routes_file: Callable[[str], Path], upstream: Upstream, diffs: Callable[[], list[dict[str, Any]]]
) -> None:
    # the legacy monolith has no jobs endpoints yet: its 404 envelope against the app's item
    routes_file(table(upstream.url, shadow='target = "legacy", volatile = ["generated_at"]'))
    before = comparisons()

    response = await AsyncClient().get("/api/jobs/items/4/", headers=auth("req-shadow-legacy"))
    await shadow_drain()

    assert response.status_code == 200 and response.json()["id"] == 4
    assert comparisons() == counted(before, diff=1)
    [kept] = diffs()
    assert (kept["primary_target"], kept["shadow_target"], kept["status"]) == ("app", "legacy", [200, 404])
    assert kept["differences"] == ["$.error", "$.id", "$.name", "$.request_id"]


async def test_an_in_process_shadow_serving_the_same_views_counts_same(
    routes_file: Callable[[str], Path], upstream: Upstream, settings: Any, diffs: Callable[[], list[dict[str, Any]]]
) -> None:
    settings.GATEWAY_LEGACY_URLCONF = UPSTREAM_URLCONF
    routes_file(table(upstream.url, shadow='target = "legacy", volatile = ["generated_at"]'))
    before = comparisons()

    response = await AsyncClient().get("/api/jobs/items/5/", headers=auth("req-shadow-legacy-same"))
    await shadow_drain()

    assert response.status_code == 200 and response.json()["id"] == 5
    assert comparisons() == counted(before, same=1)
    assert diffs() == []


async def test_a_remote_primary_is_relayed_unchanged_and_compared_with_an_app_shadow_when_its_stream_ends(
    routes_file: Callable[[str], Path], upstream: Upstream, diffs: Callable[[], list[dict[str, Any]]]
) -> None:
    routes_file(table(upstream.url, target="remote", shadow='target = "app", volatile = ["generated_at"]'))
    before = comparisons()

    response = await AsyncClient().get("/api/jobs/items/8/", headers=auth("req-shadow-remote-same"))
    body = await body_of(response)
    await shadow_drain()

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    parsed = json.loads(body)
    assert sorted(parsed) == ["generated_at", "id", "name"]
    assert (parsed["id"], parsed["name"]) == (8, "item 8")
    assert comparisons() == counted(before, same=1)
    assert diffs() == []


async def test_a_remote_primary_differing_from_its_app_shadow_keeps_the_diff(
    routes_file: Callable[[str], Path], upstream: Upstream, diffs: Callable[[], list[dict[str, Any]]]
) -> None:
    routes_file(table(upstream.url, target="remote", shadow='target = "app"'))
    before = comparisons()

    response = await AsyncClient().get("/api/jobs/items/9/", headers=auth("req-shadow-remote-diff"))
    body = await body_of(response)
    await shadow_drain()

    assert response.status_code == 200 and json.loads(body)["id"] == 9
    assert comparisons() == counted(before, diff=1)
    [kept] = diffs()
    assert (kept["primary_target"], kept["shadow_target"], kept["status"]) == ("remote", "app", [200, 200])
    assert (kept["differences"], kept["request_id"]) == (["$.generated_at"], "req-shadow-remote-diff")


async def test_an_unreachable_shadow_is_an_error_and_the_caller_is_served(
    routes_file: Callable[[str], Path], diffs: Callable[[], list[dict[str, Any]]], caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    routes_file(table(dead, shadow='target = "remote"'))
    before = comparisons()

    with caplog.at_level(logging.WARNING, logger="gateway.shadow"):
        response = await AsyncClient().get("/api/jobs/items/6/", headers=auth("req-shadow-dead"))
        await shadow_drain()

    assert response.status_code == 200 and response.json()["id"] == 6
    assert comparisons() == counted(before, error=1)
    assert diffs() == []
    assert [record.getMessage() for record in shadow_records(caplog)] == [
        f"shadow GET /api/jobs/items/6/ to remote not compared: no upstream answered ({dead}: ConnectError)"
    ]


async def test_a_shadow_slower_than_its_timeout_is_an_error(
    routes_file: Callable[[str], Path], upstream: Upstream, diffs: Callable[[], list[dict[str, Any]]]
) -> None:
    routes_file(table(upstream.url, shadow='target = "remote", timeout = 0.1'))
    before = comparisons()

    response = await AsyncClient().get("/api/jobs/slow/?seconds=0.5", headers=auth("req-shadow-slow"))
    await shadow_drain()

    assert response.status_code == 200 and response.json() == {"slept": True}
    assert comparisons() == counted(before, error=1)


async def test_a_zero_sample_mirrors_nothing(
    routes_file: Callable[[str], Path], upstream: Upstream, diffs: Callable[[], list[dict[str, Any]]]
) -> None:
    routes_file(table(upstream.url, shadow='target = "remote", sample_percent = 0'))
    before = comparisons()

    response = await AsyncClient().get("/api/jobs/items/7/", headers=auth("req-shadow-unsampled"))
    await shadow_drain()

    assert response.status_code == 200
    assert comparisons() == before


async def test_a_caller_the_canary_sent_to_the_shadow_target_is_not_mirrored(
    routes_file: Callable[[str], Path], upstream: Upstream, diffs: Callable[[], list[dict[str, Any]]]
) -> None:
    routes_file(table(upstream.url, shadow='target = "remote"') + 'canary = { target = "remote", percent = 100 }\n')
    before = comparisons()

    response = await AsyncClient().get("/api/jobs/items/10/", headers=auth("req-shadow-canary"))
    body = await body_of(response)
    await shadow_drain()

    assert response.status_code == 200 and json.loads(body)["id"] == 10
    assert comparisons() == before


async def test_unsafe_methods_are_never_mirrored(
    routes_file: Callable[[str], Path], upstream: Upstream, diffs: Callable[[], list[dict[str, Any]]]
) -> None:
    routes_file(table(upstream.url, shadow='target = "remote"'))
    before = comparisons()

    response = await AsyncClient().post(
        "/api/jobs/echo/", data=b"payload", content_type="text/plain", headers=auth("req-shadow-post")
    )
    await shadow_drain()

    assert response.status_code == 200 and response.json()["body_length"] == 7
    assert comparisons() == before


async def test_a_streamed_primary_is_copied_as_it_goes_out_and_compared_when_it_ends(
    routes_file: Callable[[str], Path], upstream: Upstream, diffs: Callable[[], list[dict[str, Any]]]
) -> None:
    size = 300_000
    routes_file(table(upstream.url, shadow='target = "remote"'))
    before = comparisons()

    response = await AsyncClient().get(f"/api/jobs/blob/?size={size}", headers=auth("req-shadow-blob"))
    body = await body_of(response)
    await shadow_drain()

    assert response.status_code == 200
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(b"".join(blob_bytes(size))).hexdigest()
    assert comparisons() == counted(before, same=1)


async def test_a_streamed_primary_over_the_limit_is_served_whole_and_not_compared(
    routes_file: Callable[[str], Path],
    upstream: Upstream,
    diffs: Callable[[], list[dict[str, Any]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    size = MAX_BODY_BYTES + 1
    routes_file(table(upstream.url, shadow='target = "remote"'))
    before = comparisons()

    with caplog.at_level(logging.INFO, logger="gateway.shadow"):
        response = await AsyncClient().get(f"/api/jobs/blob/?size={size}", headers=auth("req-shadow-big"))
        body = await body_of(response)
        await shadow_drain()

    assert len(body) == size
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(b"".join(blob_bytes(size))).hexdigest()
    assert comparisons() == before
    assert [record.getMessage() for record in shadow_records(caplog)] == [
        f"shadow of GET /api/jobs/blob/?size={size} given up: the primary's body is over {MAX_BODY_BYTES} bytes"
    ]


async def test_only_the_last_kept_diffs_stay_newest_first(
    routes_file: Callable[[str], Path],
    upstream: Upstream,
    settings: Any,
    diffs: Callable[[], list[dict[str, Any]]],
) -> None:
    settings.GATEWAY_SHADOW_KEEP = 2
    routes_file(table(upstream.url, shadow='target = "remote"'))

    for n in range(3):
        await AsyncClient().get(f"/api/jobs/items/{n}/", headers=auth(f"req-shadow-keep-{n}"))
        await shadow_drain()

    assert [kept["request_id"] for kept in diffs()] == ["req-shadow-keep-2", "req-shadow-keep-1"]


def test_json_differences_name_each_path_and_skip_volatile_keys_at_any_depth() -> None:
    primary = {"items": [{"name": "a", "at": 1}, {"name": "b"}], "meta": {"at": 2, "total": 2}, "odd key": True}
    shadow = {"items": [{"name": "A", "at": 9}], "meta": {"at": 3, "total": 2.0}, "odd key": 1, "extra": None}

    found = json_differences(primary, shadow, volatile=["at"])

    assert found == ["$.extra", "$.items[0].name", "$.items[1]", "$.meta.total", '$["odd key"]']


def test_non_json_bodies_compare_by_digest() -> None:
    text = Reply(200, "text/plain", b"ok")

    assert replies_compare(text, Reply(200, "text/plain", b"ok")).same
    assert replies_compare(text, Reply(200, "text/plain", b"ko")).differences == ("$",)
    assert replies_compare(text, Reply(200, "application/json", b'"ok"')).differences == ("$",)
    assert replies_compare(text, Reply(500, "text/plain", b"ok")).status_differs


@pytest.mark.e2e
def test_through_a_real_server_a_remote_primary_is_compared_once_the_server_has_streamed_it(
    upstream: Upstream, diffs: Callable[[], list[dict[str, Any]]], settings: Any, tmp_path: Path
) -> None:
    """The server (not the test client) consumes the relayed stream: the shadow's tee must still see it end."""
    routes = tmp_path / "routes.toml"
    routes.write_text(table(upstream.url, target="remote", shadow='target = "app", timeout = 5.0'))
    server = gateway_start(routes, GATEWAY_REDIS_PREFIX=settings.GATEWAY_REDIS_PREFIX)
    try:
        request = urllib.request.Request(f"{server.url}/api/jobs/items/5/", headers=auth("req-shadow-real-server"))
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read())
        deadline = time.monotonic() + 10
        while not diffs() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.stop()

    assert body["id"] == 5
    [diff] = diffs()  # generated_at differs between the two answers and is not declared volatile here
    assert (diff["primary_target"], diff["shadow_target"], diff["differences"]) == ("remote", "app", ["$.generated_at"])
    assert diff["request_id"] == "req-shadow-real-server"
