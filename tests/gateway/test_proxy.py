"""The remote target through the whole middleware stack, against real upstream processes on loopback.

Each test writes its own route table; breakers, ejections and round-robin positions start afresh.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from django.conf import settings as django_settings
from django.core.handlers.asgi import ASGIHandler
from django.test import AsyncClient

from gateway import metrics
from gateway.http import http_client
from gateway.routes import route_table_reset
from gateway.upstreams import breaker_states, breakers_key, upstreams_reset
from tests.gateway.conftest import Upstream, access_token, body_of, free_port, json_of, upstream_start
from tests.gateway.upstream_urls import GZIP_TEXT

pytestmark = pytest.mark.redis

WriteRoutes = Callable[[str], Path]


@pytest.fixture(autouse=True)
async def fresh_proxy_state(settings: Any) -> AsyncIterator[None]:
    settings.GATEWAY_REDIS_PREFIX = f"test-{uuid.uuid4().hex[:12]}:"
    upstreams_reset()
    yield
    upstreams_reset()
    await http_client().aclose()
    redis.Redis.from_url(django_settings.REDIS_URL).delete(breakers_key())


def table(*upstreams: str, target: str = "remote", **timeouts: float) -> str:
    lines = [
        "[domains.jobs]",
        'prefixes = ["/api/jobs/"]',
        f'target = "{target}"',
        f"upstreams = {json.dumps(list(upstreams))}",
        *(f"{key} = {value}" for key, value in timeouts.items()),
    ]
    return "\n".join(lines) + "\n"


def use(routes_file: WriteRoutes, text: str) -> None:
    routes_file(text)
    route_table_reset()  # in force now, not at the next reload check


def auth(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token(7)}", **extra}


def errors(url: str, kind: str) -> float:
    return metrics.UPSTREAM_ERRORS.labels("jobs", url, kind)._value.get()


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there: connections are refused


async def test_app_and_remote_targets_echo_the_same_request(routes_file: WriteRoutes, upstream: Upstream) -> None:
    # given a POST with a query and a body, served once in-process and once through the proxy
    payload = os.urandom(100_000)
    answers = {}
    for target in ("app", "remote"):
        use(routes_file, table(upstream.url, target=target))

        # when
        response = await AsyncClient().post(
            "/api/jobs/echo/?q=1&name=two", payload, content_type="application/octet-stream", headers=auth()
        )

        body = await json_of(response)
        answers[target] = (
            response.status_code,
            response["Content-Type"],
            response["X-Upstream"],
            response["Cache-Control"],
            {key: body[key] for key in ("method", "path", "query", "body_length", "body_sha256")},
        )

    # then
    assert answers["remote"] == answers["app"]
    assert answers["remote"] == (
        200,
        "application/json",
        "jobs",
        "no-store",
        {
            "method": "POST",
            "path": "/api/jobs/echo/",
            "query": {"q": "1", "name": "two"},
            "body_length": 100_000,
            "body_sha256": hashlib.sha256(payload).hexdigest(),
        },
    )


@pytest.mark.parametrize(
    ("path", "status", "content_type", "body"),
    [
        ("/api/jobs/status/418/", 418, "application/json", b'{"status": 418}'),
        ("/api/jobs/status/404/", 404, "application/json", b'{"status": 404}'),
        ("/api/jobs/plain/", 200, "text/plain", b"ok"),
    ],
)
async def test_app_and_remote_targets_give_the_same_answer(
    routes_file: WriteRoutes, upstream: Upstream, path: str, status: int, content_type: str, body: bytes
) -> None:
    answers = []
    for target in ("app", "remote"):
        use(routes_file, table(upstream.url, target=target))

        response = await AsyncClient().get(path, headers=auth())

        answers.append((response.status_code, response["Content-Type"], await body_of(response)))

    assert answers == [(status, content_type, body)] * 2


async def test_a_large_post_body_reaches_the_upstream_intact(routes_file: WriteRoutes, upstream: Upstream) -> None:
    # given a body larger than Django keeps in memory (it spools to disk) and not a multiple of the chunk size
    use(routes_file, table(upstream.url))
    payload = os.urandom(3 * 1024 * 1024 + 123)

    response = await AsyncClient().put(
        "/api/jobs/echo/", payload, content_type="application/octet-stream", headers=auth()
    )

    body = await json_of(response)
    assert (response.status_code, body["method"], body["body_length"], body["body_sha256"]) == (
        200,
        "PUT",
        len(payload),
        hashlib.sha256(payload).hexdigest(),
    )
    assert body["headers"]["content-length"] == str(len(payload))
    assert body["headers"]["content-type"] == "application/octet-stream"


async def test_forwarding_headers_are_set_and_x_forwarded_for_appended(
    routes_file: WriteRoutes, upstream: Upstream
) -> None:
    use(routes_file, table(upstream.url))
    token = access_token(7)

    response = await AsyncClient().get(
        "/api/jobs/echo/",
        headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.9", "X-Request-ID": "req-proxy-1"},
    )

    seen = (await json_of(response))["headers"]
    assert response.status_code == 200
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert (seen["x-forwarded-proto"], seen["x-forwarded-host"]) == ("http", "testserver")
    assert seen["x-request-id"] == "req-proxy-1"
    assert seen["authorization"] == f"Bearer {token}"
    assert seen["host"] == upstream.url.removeprefix("http://")


async def test_hop_by_hop_headers_and_cookies_stay_at_the_gateway(routes_file: WriteRoutes, upstream: Upstream) -> None:
    # given hop-by-hop headers, one of them (X-Secret) only named as such in Connection
    use(routes_file, table(upstream.url))
    sent = {
        "Connection": "x-secret",
        "X-Secret": "1",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "Cookie": "sessionid=abc",
        "X-Kept": "yes",
    }

    response = await AsyncClient().get("/api/jobs/echo/", headers=auth(**sent))

    seen = (await json_of(response))["headers"]
    assert sorted(seen) == [
        "authorization",
        "connection",
        "host",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-kept",
        "x-request-id",
    ]
    assert seen["connection"] == "keep-alive"  # the gateway's own connection to the upstream, not the client's
    assert seen["x-kept"] == "yes"


async def test_edge_traffic_never_carries_an_internal_service_token(
    routes_file: WriteRoutes, upstream: Upstream
) -> None:
    """A public caller must not pass for one of the platform's deployables, neither by forging nor through us."""
    use(routes_file, table(upstream.url))

    response = await AsyncClient().get(
        "/api/jobs/echo/", headers=auth(**{"X-Internal-Token": "forged", "X-Shadow": "1", "Forwarded": "for=1.2.3.4"})
    )

    seen = (await json_of(response))["headers"]
    assert not {"x-internal-token", "x-shadow", "forwarded"} & set(seen)


async def test_upstream_cors_headers_are_dropped_and_cookies_relayed(
    routes_file: WriteRoutes, upstream: Upstream
) -> None:
    use(routes_file, table(upstream.url))

    response = await AsyncClient().get("/api/jobs/cors/", headers=auth())

    assert response.status_code == 200
    assert await json_of(response) == {"cors": "upstream"}
    assert not [name for name, _ in response.items() if name.lower().startswith("access-control-")]
    # Django writes each morsel as `Set-Cookie: <output>`: both arrive exactly as the upstream sent them
    colour, flavour = sorted(morsel.output(header="").strip() for morsel in response.cookies.values())
    assert re.fullmatch(r"colour=blue; expires=\w{3}, \d\d \w{3} \d{4} [\d:]{8} GMT; Max-Age=60; Path=/", colour)
    assert flavour == "flavour=oat; HttpOnly; Path=/api/jobs/"


async def test_hop_by_hop_response_headers_are_dropped(routes_file: WriteRoutes, upstream: Upstream) -> None:
    use(routes_file, table(upstream.url))

    response = await AsyncClient().get("/api/jobs/hop/", headers=auth())

    assert (response.status_code, await body_of(response)) == (200, b"hop")
    assert response["X-Kept"] == "1"
    assert not response.has_header("X-Hop")
    assert not response.has_header("Connection")


async def test_compressed_bodies_pass_through_untouched(routes_file: WriteRoutes, upstream: Upstream) -> None:
    use(routes_file, table(upstream.url))

    response = await AsyncClient().get("/api/jobs/gzip/", headers=auth(**{"Accept-Encoding": "gzip"}))

    raw = await body_of(response)
    assert (response["Content-Encoding"], response["Content-Length"]) == ("gzip", str(len(raw)))
    assert gzip.decompress(raw) == GZIP_TEXT


async def test_a_client_leaving_mid_body_closes_the_upstream_response(
    routes_file: WriteRoutes, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a large download through Django's real ASGI handler, and a watch on upstream responses being closed
    use(routes_file, table(upstream.url))
    closed: list[int] = []
    real_aclose = httpx.Response.aclose

    async def aclose(self: httpx.Response) -> None:
        closed.append(self.num_bytes_downloaded)
        await real_aclose(self)

    monkeypatch.setattr(httpx.Response, "aclose", aclose)
    first_chunk = asyncio.Event()
    sent: list[Mapping[str, Any]] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await first_chunk.wait()
        return {"type": "http.disconnect"}  # the client goes away once the body has started

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body":
            first_chunk.set()
        await asyncio.sleep(0)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/jobs/blob/",
        "query_string": f"size={256 << 20}".encode(),
        "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {access_token(7)}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "scheme": "http",
    }

    # when
    await ASGIHandler()(scope, receive, send)

    # then the upstream response was closed long before its 256 MiB had been read
    assert sent[0]["status"] == 200
    assert len(closed) == 1 and 0 < closed[0] < 256 << 20


async def test_requests_alternate_between_upstreams(routes_file: WriteRoutes, upstream: Upstream) -> None:
    # given two live upstreams
    second = upstream_start()
    try:
        use(routes_file, table(upstream.url, second.url))

        # when
        hosts = []
        for _ in range(4):
            response = await AsyncClient().get("/api/jobs/echo/", headers=auth())
            hosts.append((await json_of(response))["headers"]["host"])
    finally:
        second.stop()

    # then
    first_host, second_host = upstream.url.removeprefix("http://"), second.url.removeprefix("http://")
    assert hosts == [first_host, second_host, first_host, second_host]


async def test_a_refused_upstream_is_failed_over_then_ejected(routes_file: WriteRoutes, upstream: Upstream) -> None:
    # given a dead upstream first in line and a live one
    dead = dead_url()
    use(routes_file, table(dead, upstream.url, eject_seconds=30))

    # when
    statuses = [(await AsyncClient().get("/api/jobs/echo/", headers=auth())).status_code for _ in range(4)]

    # then the first request moved on, and later ones no longer tried the dead upstream
    assert statuses == [200, 200, 200, 200]
    assert errors(dead, "connect") == 1
    assert errors(dead, "ejected") == 3  # each later request passed it over


async def test_a_post_fails_over_only_because_the_connection_was_refused(
    routes_file: WriteRoutes, upstream: Upstream
) -> None:
    # given a POST with a body, a dead upstream first in line, a live one second
    dead = dead_url()
    use(routes_file, table(dead, upstream.url))
    payload = os.urandom(200_000)

    response = await AsyncClient().post(
        "/api/jobs/echo/", payload, content_type="application/octet-stream", headers=auth()
    )

    # then it reached the live one whole: nothing had been sent to the dead one
    body = await json_of(response)
    assert (response.status_code, body["body_sha256"]) == (200, hashlib.sha256(payload).hexdigest())
    assert errors(dead, "connect") == 1


async def test_a_post_is_not_retried_after_an_upstream_502(routes_file: WriteRoutes, upstream: Upstream) -> None:
    use(routes_file, table(upstream.url, retries=2))
    before = errors(upstream.url, "status_5xx")

    response = await AsyncClient().post("/api/jobs/reply/502/", b"x", content_type="text/plain", headers=auth())

    assert (response.status_code, await json_of(response)) == (502, {"status": 502, "method": "POST"})  # its own
    assert errors(upstream.url, "status_5xx") - before == 1


async def test_a_get_is_retried_after_an_upstream_503_and_its_last_answer_relayed(
    routes_file: WriteRoutes, upstream: Upstream
) -> None:
    use(routes_file, table(upstream.url, retries=2))
    before = errors(upstream.url, "status_5xx")

    response = await AsyncClient().get("/api/jobs/status/503/", headers=auth())

    assert (response.status_code, await json_of(response)) == (503, {"status": 503})
    assert errors(upstream.url, "status_5xx") - before == 3  # the first attempt and two retries


async def test_a_down_upstream_answers_502_within_the_connect_timeout(routes_file: WriteRoutes) -> None:
    # given the only upstream is down
    dead = dead_url()
    use(routes_file, table(dead, connect_timeout=2, eject_seconds=30))

    # when
    started = time.monotonic()
    response = await AsyncClient().get("/api/jobs/echo/", headers=auth(**{"X-Request-ID": "req-down-1"}))
    elapsed = time.monotonic() - started

    # then
    assert elapsed < 2 + 1
    assert response.status_code == 502
    assert await json_of(response) == {
        "error": {"code": "BAD_GATEWAY", "message": "The upstream service refused the connection."},
        "request_id": "req-down-1",
    }


async def test_an_upstream_that_never_accepts_answers_502_within_the_connect_timeout(routes_file: WriteRoutes) -> None:
    # given an upstream whose accept queue is full, so new connections hang in the handshake
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        host, port = listener.getsockname()
        queued = [socket.socket() for _ in range(3)]
        for sock in queued:
            sock.setblocking(False)
            sock.connect_ex((host, port))
        use(routes_file, table(f"http://{host}:{port}", connect_timeout=0.5, retries=1))

        # when
        started = time.monotonic()
        response = await AsyncClient().get("/api/jobs/echo/", headers=auth(**{"X-Request-ID": "req-hang-1"}))
        elapsed = time.monotonic() - started
        for sock in queued:
            sock.close()

    # then one attempt, cut at the connect timeout (the upstream is ejected: no retry on it)
    assert 0.5 <= elapsed < 0.5 + 1
    assert response.status_code == 502
    assert await json_of(response) == {
        "error": {"code": "BAD_GATEWAY", "message": "The upstream service did not accept the connection in time."},
        "request_id": "req-hang-1",
    }
    assert errors(f"http://{host}:{port}", "connect_timeout") == 1


async def test_with_every_upstream_ejected_the_gateway_answers_503_with_retry_after(routes_file: WriteRoutes) -> None:
    # given the only upstream was just found down
    dead = dead_url()
    use(routes_file, table(dead, eject_seconds=30))
    await AsyncClient().get("/api/jobs/echo/", headers=auth())

    # when
    response = await AsyncClient().get("/api/jobs/echo/", headers=auth(**{"X-Request-ID": "req-ejected-1"}))

    # then
    assert response.status_code == 503
    assert response["Retry-After"] in ("29", "30")
    assert await json_of(response) == {
        "error": {
            "code": "SERVICE_UNAVAILABLE",
            "message": "No upstream of this service is available; retry after Retry-After.",
        },
        "request_id": "req-ejected-1",
    }
    assert errors(dead, "connect") == 1


async def test_a_slow_upstream_answers_504(routes_file: WriteRoutes, upstream: Upstream) -> None:
    use(routes_file, table(upstream.url, read_timeout=0.5, retries=0))
    before = errors(upstream.url, "timeout")

    started = time.monotonic()
    response = await AsyncClient().get("/api/jobs/slow/?seconds=3", headers=auth(**{"X-Request-ID": "req-slow-1"}))
    elapsed = time.monotonic() - started

    assert 0.5 <= elapsed < 2
    assert response.status_code == 504
    assert await json_of(response) == {
        "error": {"code": "GATEWAY_TIMEOUT", "message": "The upstream service did not answer in time."},
        "request_id": "req-slow-1",
    }
    assert errors(upstream.url, "timeout") - before == 1


def stored_breaker(url: str) -> dict[str, Any]:
    raw = redis.Redis.from_url(django_settings.REDIS_URL).hget(breakers_key(), f"jobs {url}")
    assert raw is not None
    return dict(json.loads(raw))


async def test_the_breaker_opens_after_the_threshold_and_closes_after_recovery(routes_file: WriteRoutes) -> None:
    # given an upstream that goes down, with a breaker of threshold 2 resetting after 1 s (ejection kept out of it)
    port = free_port()
    server = upstream_start(port=port)
    url = server.url
    use(routes_file, table(url, breaker_threshold=2, breaker_reset=1, eject_seconds=0.001, retries=0))
    assert (await AsyncClient().get("/api/jobs/echo/", headers=auth())).status_code == 200
    server.stop()

    # when two requests fail to connect
    failures = [(await AsyncClient().get("/api/jobs/echo/", headers=auth())).status_code for _ in range(2)]

    # then the breaker is open and the next request is refused at once, without a connection attempt
    assert failures == [502, 502]
    assert breaker_states() == {("jobs", url): "opened"}
    assert metrics.BREAKER_OPEN.labels("jobs", url)._value.get() == 1
    assert {key: stored_breaker(url)[key] for key in ("state", "failures")} == {"state": "opened", "failures": 2}
    started = time.monotonic()
    refused = await AsyncClient().get("/api/jobs/echo/", headers=auth())
    assert time.monotonic() - started < 0.5  # "at once"; the counters below prove no connection was tried
    assert (refused.status_code, refused["Retry-After"]) == (503, "1")
    assert (await json_of(refused))["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert (errors(url, "connect"), errors(url, "breaker_open")) == (2, 1)

    # when the upstream is back on the same port and the reset time has passed
    server = upstream_start(port=port)
    try:
        await asyncio.sleep(1.1)  # breaker_reset
        recovered = await AsyncClient().get("/api/jobs/echo/", headers=auth())
    finally:
        server.stop()

    # then the probe succeeds and the breaker is closed again
    assert recovered.status_code == 200
    assert breaker_states() == {("jobs", url): "closed"}
    assert metrics.BREAKER_OPEN.labels("jobs", url)._value.get() == 0
    assert {key: stored_breaker(url)[key] for key in ("state", "failures")} == {"state": "closed", "failures": 0}


async def test_client_errors_never_open_the_breaker(routes_file: WriteRoutes, upstream: Upstream) -> None:
    use(routes_file, table(upstream.url, breaker_threshold=2))

    statuses = [(await AsyncClient().get("/api/jobs/status/404/", headers=auth())).status_code for _ in range(3)]

    assert statuses == [404, 404, 404]
    assert breaker_states() == {("jobs", upstream.url): "closed"}
