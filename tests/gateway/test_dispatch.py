"""In-process dispatch through the gateway middleware: routing by prefix, edge auth, the URLconf per target."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import AsyncClient

from gateway.dispatch import canary_bucket, target_choose
from gateway.routes import Canary, Route
from tests.gateway.conftest import JOBS_TABLE, Upstream, access_token, json_of

pytestmark = pytest.mark.redis

TABLE = JOBS_TABLE


async def test_app_target_serves_the_contexts_urlconf_in_process(routes_file: Callable[[str], Path]) -> None:
    routes_file(TABLE.format(target="app"))

    response = await AsyncClient().get(
        "/api/jobs/echo/?q=1", headers={"Authorization": f"Bearer {access_token(7)}", "X-Request-ID": "req-dispatch-1"}
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["method"], body["path"], body["query"]) == ("GET", "/api/jobs/echo/", {"q": "1"})
    assert response["X-Request-ID"] == "req-dispatch-1"
    assert response["X-RateLimit-Limit"] == "1200"  # per-user limit of the default table


async def test_legacy_target_resolves_against_the_legacy_urlconf(routes_file: Callable[[str], Path]) -> None:
    routes_file(TABLE.format(target="legacy"))

    response = await AsyncClient().get("/api/jobs/echo/", headers={"Authorization": f"Bearer {access_token(7)}"})

    assert response.status_code == 404  # the legacy monolith has no such endpoint
    assert response.json()["error"] == {"code": "NOT_FOUND", "message": "Not found."}


async def test_a_protected_prefix_without_a_token_is_refused_at_the_edge(routes_file: Callable[[str], Path]) -> None:
    routes_file(TABLE.format(target="app"))

    response = await AsyncClient().get("/api/jobs/echo/")

    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "AUTHENTICATION_ERROR",
        "message": "Authentication credentials were not provided.",
    }
    assert response["WWW-Authenticate"] == 'Bearer error="invalid_token"'


async def test_an_anonymous_prefix_needs_no_token(routes_file: Callable[[str], Path]) -> None:
    routes_file(TABLE.format(target="app"))

    response = await AsyncClient().get("/api/jobs/plain/")

    assert response.status_code == 200 and response.content == b"ok"
    assert response["X-RateLimit-Limit"] == "600"  # anonymous callers are limited per address


async def test_paths_no_route_claims_pass_through(routes_file: Callable[[str], Path]) -> None:
    routes_file(TABLE.format(target="app"))

    response = await AsyncClient().get("/healthz")

    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert not response.has_header("X-RateLimit-Limit")


def test_canary_share_is_sticky_per_caller_and_close_to_the_percentage() -> None:
    route = Route(domain="jobs", prefixes=("/api/jobs/",), target="app", canary=Canary(target="remote", percent=20))

    first = [target_choose(route, f"user-{n}") for n in range(2000)]
    again = [target_choose(route, f"user-{n}") for n in range(2000)]

    assert first == again
    assert 0.17 < first.count("remote") / 2000 < 0.23
    assert canary_bucket("user-1", "jobs") != canary_bucket("user-1", "files")  # buckets differ per domain


async def test_a_canary_sends_each_user_consistently_to_one_side(
    routes_file: Callable[[str], Path], upstream: Upstream
) -> None:
    routes_file(
        TABLE.format(target="app") + f'upstreams = ["{upstream.url}"]\ncanary = {{ target = "remote", percent = 50 }}\n'
    )
    client = AsyncClient()

    async def side(user: int) -> str:
        response = await client.get("/api/jobs/echo/", headers={"Authorization": f"Bearer {access_token(user)}"})
        assert response.status_code == 200
        # only the proxy adds X-Forwarded-For on its way to the remote deployable
        return "remote" if "x-forwarded-for" in (await json_of(response))["headers"] else "app"

    first = {user: await side(user) for user in range(1, 21)}
    again = {user: await side(user) for user in range(1, 21)}

    assert first == again
    assert set(first.values()) == {"app", "remote"}
    assert all(first[user] == ("remote" if canary_bucket(str(user), "jobs") < 50 else "app") for user in first)
