"""`edge_judge` and EdgeJudgedMiddleware: the edge's checks for a request served outside Django's handler (the data
plane), against a real Redis. They judge as GatewayMiddleware does, count each request once, and leave alone (count
nothing for) what this process would not serve."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from gateway.middleware import EDGE_VERDICT, EdgeJudgedMiddleware, EdgeVerdict, edge_judge
from tests.gateway.conftest import access_token, fresh_window

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
PATH = "/api/jobs/1/"


def _counts(client: redis.Redis, prefix: str) -> dict[str, int]:
    """This window's rate-limit counters by whom they count: {'user:7': 1, 'ip:10.0.0.1': 2} (the tests start far
    enough from a window's end); a counter of another window would show up under its own name."""
    window = f":{int(time.time() // 60)}"
    return {
        str(key).removeprefix(f"{prefix}rl:").removesuffix(window): int(client.get(key) or 0)
        for key in client.scan_iter(match=f"{prefix}rl:*")
    }


async def _judge(authorization: str, path: str = PATH) -> EdgeVerdict | None:
    return await edge_judge(path=path, authorization=authorization, client_ip="10.0.0.1")


def _served(verdict: EdgeVerdict | None, view: Callable[[HttpRequest], HttpResponse]) -> HttpResponse:
    request = RequestFactory().patch(PATH, HTTP_X_REQUEST_ID="judged-request-1")
    setattr(request, EDGE_VERDICT, verdict)
    return EdgeJudgedMiddleware(view)(request)  # type: ignore[return-value]


def _view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(getattr(request, "urlconf", "")).encode(), status=200)


async def test_a_good_token_is_let_through_to_its_target_and_counted_once_against_the_user(
    routes_file: Callable[[str], Path], gateway_redis: redis.Redis, settings: Any
) -> None:
    routes_file(TABLE.format(target="app"))
    await fresh_window()
    verdict = await _judge(f"Bearer {access_token(7)}")
    assert verdict is not None and not verdict.refused
    assert (verdict.caller.route.domain, verdict.caller.target, verdict.caller.identity.user_id) == ("jobs", "app", "7")
    assert (verdict.decision.limit, verdict.decision.remaining) == (2, 1)
    assert _counts(gateway_redis, settings.GATEWAY_REDIS_PREFIX) == {"user:7": 1}


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        ("", "Authentication credentials were not provided."),
        ("Bearer nonsense", "The access token is invalid."),
        (f"Token {access_token(7)}", "Send the access token as 'Authorization: Bearer <token>'."),
        (f"Bearer junk,Bearer {access_token(7)}", "The access token is invalid."),  # two headers, as Django joins them
    ],
)
async def test_a_missing_or_bad_token_is_refused_with_the_gateways_401_and_counted_against_the_address(
    routes_file: Callable[[str], Path], gateway_redis: redis.Redis, settings: Any, authorization: str, message: str
) -> None:
    # given a request without a usable token
    routes_file(TABLE.format(target="app"))
    await fresh_window()
    verdict = await _judge(authorization)
    # then it is refused, counted once against the address (guessing tokens is rate-limited too)
    assert verdict is not None and verdict.refused
    assert _counts(gateway_redis, settings.GATEWAY_REDIS_PREFIX) == {"ip:10.0.0.1": 1}
    # and the stand-in answers the gateway's 401 without calling the view
    response = _served(verdict, lambda request: pytest.fail("the view was called"))
    assert response.status_code == 401 and response["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert json.loads(response.content)["error"] == {"code": "AUTHENTICATION_ERROR", "message": message}
    assert not response.has_header("X-RateLimit-Limit")


async def test_a_caller_over_the_limit_is_refused_with_429_and_the_limit_headers(
    routes_file: Callable[[str], Path], gateway_redis: redis.Redis, settings: Any
) -> None:
    # given a caller who has used up the two requests of the window
    routes_file(TABLE.format(target="app"))
    await fresh_window()
    token = f"Bearer {access_token(8)}"
    assert [(await _judge(token)).refused for _ in range(2)] == [False, False]  # type: ignore[union-attr]
    # when a third comes
    verdict = await _judge(token)
    # then it is refused with 429 and Retry-After, each request counted once
    response = _served(verdict, lambda request: pytest.fail("the view was called"))
    assert response.status_code == 429 and json.loads(response.content)["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("2", "0")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert _counts(gateway_redis, settings.GATEWAY_REDIS_PREFIX) == {"user:8": 3}


@pytest.mark.parametrize(("target", "path"), [("remote", PATH), ("app", "/api/jobs/../users/"), ("app", "/x/")])
async def test_a_remote_target_or_an_unrouted_or_stepping_out_path_is_left_to_django_uncounted(
    routes_file: Callable[[str], Path], gateway_redis: redis.Redis, settings: Any, target: str, path: str
) -> None:
    routes_file(TABLE.format(target=target) + ('upstreams = ["http://127.0.0.1:9"]\n' if target == "remote" else ""))
    assert await _judge(f"Bearer {access_token(7)}", path) is None
    assert _counts(gateway_redis, settings.GATEWAY_REDIS_PREFIX) == {}


async def test_the_stand_in_serves_a_let_through_request_on_its_target_with_the_limit_headers(
    routes_file: Callable[[str], Path], gateway_redis: redis.Redis
) -> None:
    routes_file(TABLE.format(target="app"))
    await fresh_window()
    response = _served(await _judge(f"Bearer {access_token(9)}"), _view)
    assert response.content == b"<module 'gateway.urlconf[tests.gateway.upstream_urls]'>"
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("2", "1")


async def test_without_redis_and_failing_closed_the_stand_in_answers_503(
    routes_file: Callable[[str], Path], gateway_redis: redis.Redis, settings: Any, tmp_path: Path
) -> None:
    # given limits that fail closed, and a Redis nobody serves
    routes_file(TABLE.format(target="app").replace("fail_open = true", "fail_open = false"))
    settings.REDIS_URL = f"unix://{tmp_path}/nobody-listens.sock"
    # when a caller with a good token is judged, then it is refused with the gateway's 503
    response = _served(await _judge(f"Bearer {access_token(7)}"), lambda request: pytest.fail("the view was called"))
    assert response.status_code == 503
    assert json.loads(response.content)["error"] == {
        "code": "SERVICE_UNAVAILABLE",
        "message": "Rate limiting is unavailable; try again shortly.",
    }


def test_the_stand_in_refuses_a_request_the_edge_did_not_judge() -> None:
    with pytest.raises(ImproperlyConfigured, match="judged for this process"):
        _served(None, _view)
