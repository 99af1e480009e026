"""`edge_pass`: the edge's checks for a request served outside Django's handler (the data plane), against a real
Redis. It lets through exactly what GatewayMiddleware lets through to an in-process target, and counts a request
against the rate limit only once its token is good (a refused token is Django's path to count)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import RequestFactory

from gateway.middleware import EDGE_PASS, EdgePassedMiddleware, edge_pass
from tests.gateway.conftest import access_token

pytestmark = pytest.mark.redis

TABLE = """
[rate_limits]
window_seconds = 60
per_ip = 3
per_user = 2
fail_open = true

[domains.jobs]
prefixes = ["/api/jobs/"]
target = "{target}"
"""


def _counted(client: redis.Redis, prefix: str) -> int:
    return sum(int(client.get(key) or 0) for key in client.scan_iter(match=f"{prefix}rl:*"))


async def test_a_good_token_passes_with_its_rate_limit_decision_and_target(
    routes_file: Callable[[str], Path], gateway_redis: redis.Redis, settings: Any
) -> None:
    # given jobs served in-process
    routes_file(TABLE.format(target="app"))
    # when a caller with a good token passes the edge
    passed = await edge_pass(path="/api/jobs/1/", authorization=f"Bearer {access_token(7)}", client_ip="10.0.0.1")
    # then the pass names the route, the target and the decision, counted once against the user
    assert passed is not None and passed.route.domain == "jobs" and passed.target == "app"
    assert (passed.decision.limit, passed.decision.remaining) == (2, 1)
    assert _counted(gateway_redis, settings.GATEWAY_REDIS_PREFIX) == 1


@pytest.mark.parametrize("authorization", ["", "Bearer nonsense", f"Token {access_token(7)}"])
async def test_a_missing_or_bad_token_does_not_pass_and_is_not_counted(
    routes_file: Callable[[str], Path], gateway_redis: redis.Redis, settings: Any, authorization: str
) -> None:
    routes_file(TABLE.format(target="app"))
    passed = await edge_pass(path="/api/jobs/1/", authorization=authorization, client_ip="10.0.0.1")
    assert passed is None
    assert _counted(gateway_redis, settings.GATEWAY_REDIS_PREFIX) == 0


async def test_a_caller_over_the_rate_limit_does_not_pass(
    routes_file: Callable[[str], Path], gateway_redis: redis.Redis
) -> None:
    # given a caller who has used up the two requests of the window
    routes_file(TABLE.format(target="app"))
    token = f"Bearer {access_token(8)}"
    for _ in range(2):
        assert await edge_pass(path="/api/jobs/1/", authorization=token, client_ip="10.0.0.1") is not None
    # when a third comes, then it does not pass (Django's path answers the 429)
    assert await edge_pass(path="/api/jobs/1/", authorization=token, client_ip="10.0.0.1") is None


@pytest.mark.parametrize(
    ("target", "path"), [("remote", "/api/jobs/1/"), ("app", "/api/jobs/../users/"), ("app", "/x/")]
)
async def test_a_proxied_unrouted_or_stepping_out_path_does_not_pass(
    routes_file: Callable[[str], Path], gateway_redis: redis.Redis, target: str, path: str
) -> None:
    table = TABLE.format(target=target)
    routes_file(table + ('upstreams = ["http://127.0.0.1:9"]\n' if target == "remote" else ""))
    assert await edge_pass(path=path, authorization=f"Bearer {access_token(7)}", client_ip="10.0.0.1") is None


async def test_the_stand_in_middleware_serves_a_pass_on_its_target_with_its_headers(
    routes_file: Callable[[str], Path], gateway_redis: redis.Redis
) -> None:
    # given a request that passed the edge
    routes_file(TABLE.format(target="app"))
    passed = await edge_pass(path="/api/jobs/1/", authorization=f"Bearer {access_token(9)}", client_ip="10.0.0.1")
    request = RequestFactory().patch("/api/jobs/1/")
    setattr(request, EDGE_PASS, passed)
    seen: list[object] = []

    def view(request: Any) -> HttpResponse:
        seen.append(request.urlconf)
        return HttpResponse(status=204)

    # when the stand-in serves it
    response = EdgePassedMiddleware(view)(request)
    # then the target's URLconf resolved it and the rate-limit headers are on the answer
    assert seen and seen[0].__name__ == "gateway.urlconf[tests.gateway.upstream_urls]"  # type: ignore[attr-defined]
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("2", "1")


def test_the_stand_in_middleware_refuses_a_request_that_did_not_pass_the_edge() -> None:
    with pytest.raises(ImproperlyConfigured, match="passed the edge"):
        EdgePassedMiddleware(lambda request: HttpResponse())(RequestFactory().patch("/api/jobs/1/"))
