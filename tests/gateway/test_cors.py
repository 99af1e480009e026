"""CORS at the edge (django-cors-headers ahead of the gateway): preflights allowed and refused by the allow-list."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.gateway.conftest import access_token

pytestmark = pytest.mark.redis

ORIGIN = "https://app.example.org"
TABLE = """
[rate_limits]
per_ip = 2

[domains.jobs]
prefixes = ["/api/jobs/"]
target = "app"
anonymous = ["/api/jobs/plain/"]
"""
EXPOSED = [
    "X-Request-ID",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    # what a browser's tus client and download links must read
    "Location",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Expires",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Content-Range",
    "Accept-Ranges",
    "Content-Disposition",
]
CORS_HEADERS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Headers",
    "Access-Control-Allow-Methods",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
)


@pytest.fixture(autouse=True)
def allow_list(routes_file: Callable[[str], Path], settings: Any) -> None:
    routes_file(TABLE)
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    settings.GATEWAY_REDIS_PREFIX = f"test-cors-{uuid.uuid4().hex[:12]}:"


def listed(value: str) -> list[str]:
    return [item.strip().lower() for item in value.split(",")]


def preflight(origin: str, path: str = "/api/jobs/echo/") -> Any:
    return Client().options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_a_preflight_from_an_allowed_origin_is_allowed() -> None:
    response = preflight(ORIGIN)

    assert response.status_code == 200
    assert response.content == b""
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert {"authorization", "content-type", "x-request-id"} <= set(listed(response["Access-Control-Allow-Headers"]))
    assert "post" in listed(response["Access-Control-Allow-Methods"])
    assert int(response["Access-Control-Max-Age"]) > 0
    assert "origin" in listed(response["Vary"])
    assert not response.has_header("WWW-Authenticate")  # a preflight never carries a token: not refused at the edge
    assert response.has_header("X-Request-ID")


def test_a_preflight_from_an_origin_not_on_the_list_gets_no_allow_headers() -> None:
    response = preflight("https://evil.example.com")

    assert response.status_code == 200
    assert response.content == b""
    for header in CORS_HEADERS:
        assert not response.has_header(header), header


@pytest.mark.parametrize(
    "origin",
    ["http://app.example.org", "https://app.example.org:8443", "https://app.example.org.evil.com", "null"],
)
def test_an_origin_that_only_resembles_the_allowed_one_is_refused(origin: str) -> None:
    response = preflight(origin)

    assert not response.has_header("Access-Control-Allow-Origin")


def test_a_simple_get_from_an_allowed_origin_carries_the_cors_headers() -> None:
    token = access_token(51)

    response = Client().get(
        "/api/jobs/echo/", headers={"Origin": ORIGIN, "Authorization": f"Bearer {token}", "X-Request-ID": "req-cors-1"}
    )

    assert response.status_code == 200
    assert response.json()["headers"]["origin"] == ORIGIN
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert response["Access-Control-Expose-Headers"] == ", ".join(EXPOSED)
    assert response["X-Request-ID"] == "req-cors-1"
    assert not response.has_header("Access-Control-Allow-Methods")  # only preflights list methods
    assert not response.has_header("Access-Control-Allow-Credentials")


def test_a_simple_get_from_an_origin_not_on_the_list_is_served_without_cors_headers() -> None:
    response = Client().get("/api/jobs/plain/", headers={"Origin": "https://evil.example.com"})

    assert response.status_code == 200
    assert response.content == b"ok"
    for header in CORS_HEADERS:
        assert not response.has_header(header), header


def test_an_edge_401_carries_the_cors_headers_so_the_browser_can_read_it() -> None:
    response = Client().get("/api/jobs/echo/", headers={"Origin": ORIGIN, "X-Request-ID": "req-cors-2"})

    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "AUTHENTICATION_ERROR", "message": "Authentication credentials were not provided."},
        "request_id": "req-cors-2",
    }
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert response["Access-Control-Expose-Headers"] == ", ".join(EXPOSED)


def test_a_429_carries_the_cors_headers_and_exposes_retry_after() -> None:
    left = 60 - time.time() % 60
    if left < 3:  # counters are per fixed 60 s window: don't let a boundary cut the sequence in two
        time.sleep(left + 0.05)
    client = Client(REMOTE_ADDR="10.9.20.1")
    for _ in range(2):
        client.get("/api/jobs/plain/", headers={"Origin": ORIGIN})

    response = client.get("/api/jobs/plain/", headers={"Origin": ORIGIN})

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert {"retry-after", "x-ratelimit-reset"} <= set(listed(response["Access-Control-Expose-Headers"]))
    assert 1 <= int(response["Retry-After"]) <= 60


@pytest.mark.parametrize("path", ["/healthz", "/apix/", "/web/api/jobs/"])
def test_paths_outside_api_get_no_cors_headers(path: str) -> None:
    response = Client().get(path, headers={"Origin": ORIGIN})

    for header in CORS_HEADERS:
        assert not response.has_header(header), header
    assert "origin" not in listed(response.get("Vary", ""))


def test_a_preflight_outside_api_gets_no_cors_headers() -> None:
    response = preflight(ORIGIN, path="/healthz")

    for header in CORS_HEADERS:
        assert not response.has_header(header), header
