"""Operator views of the gateway: the route table in force (admin API) and the Prometheus scrape endpoint.

`routes_report()` is shared with `manage.py gateway routes`. Breaker states are read from the Redis hash the
proxy maintains (field "<domain> <upstream url>", value JSON {state, failures, changed_at}), so any process
can report them; a missing field means the breaker has never left `closed`.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiResponse, extend_schema
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.kernel.errors import error_response
from gateway.routes import Route, route_table, route_table_status

BREAKER_UNKNOWN = "unknown"  # Redis could not be asked


def breakers_key() -> str:
    return f"{settings.GATEWAY_REDIS_PREFIX}breakers"


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    # short timeouts: an operator's view must not hang on a Redis that is down
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=1, socket_connect_timeout=1)


def ops_redis() -> redis.Redis:
    """A synchronous Redis client for the operator views and commands."""
    return _redis(settings.REDIS_URL)


def breaker_states(routes: Iterable[Route]) -> dict[tuple[str, str], str]:
    """{(domain, upstream url): closed | opened | half-opened | unknown} for every upstream of `routes`.

    The state is the last change any gateway process wrote; an open breaker past its reset time lets the next
    request probe, so it is reported half-opened, as the proxy itself would treat it.
    """
    routes = list(routes)
    keys = [(route.domain, url) for route in routes for url in route.upstreams]
    if not keys:
        return {}
    try:
        values = ops_redis().hmget(breakers_key(), [f"{domain} {url}" for domain, url in keys])
    except (redis.RedisError, OSError):
        return dict.fromkeys(keys, BREAKER_UNKNOWN)
    reset = {route.domain: route.timeouts.breaker_reset for route in routes}
    states = {}
    for (domain, url), value in zip(keys, values, strict=True):
        states[(domain, url)] = "closed" if value is None else _breaker_state(value, reset[domain])
    return states


def _breaker_state(value: str, reset_seconds: float) -> str:
    try:
        entry = json.loads(value)
        state, changed_at = str(entry["state"]), float(entry.get("changed_at") or 0)
    except (ValueError, KeyError, TypeError, AttributeError):
        return BREAKER_UNKNOWN
    if state == "opened" and changed_at + reset_seconds < time.time():
        return "half-opened"
    return state


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()


def route_report(route: Route, breakers: dict[tuple[str, str], str]) -> dict[str, Any]:
    return {
        "domain": route.domain,
        "prefixes": list(route.prefixes),
        "target": route.target,
        "anonymous": list(route.anonymous),
        "canary": {"target": route.canary.target, "percent": route.canary.percent} if route.canary else None,
        "shadow": (
            {
                "target": route.shadow.target,
                "volatile": sorted(route.shadow.volatile),
                "timeout": route.shadow.timeout,
                "sample_percent": route.shadow.sample_percent,
            }
            if route.shadow
            else None
        ),
        "upstreams": [{"url": url, "breaker": breakers[(route.domain, url)]} for url in route.upstreams],
    }


def routes_report() -> dict[str, Any]:
    """The table in force in this process, its file (path, when loaded, last rejected edit) and breaker states."""
    routes = sorted(route_table().routes, key=lambda route: route.domain)
    status = route_table_status()
    breakers = breaker_states(routes)
    return {
        "file": {"path": status["path"], "loaded_at": _iso(status["loaded_at"]), "error": status["error"]},
        "routes": [route_report(route, breakers) for route in routes],
    }


class RouteTableView(APIView):
    """GET /api/gateway/routes/: the route table in force, for administrators."""

    permission_classes = [IsAdminUser]

    @extend_schema(responses={200: OpenApiResponse(description="The route table in force and its file.")})
    def get(self, request: Request) -> Response:
        return Response(routes_report())


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def metrics_allowed(request: HttpRequest) -> bool:
    """With METRICS_TOKEN set: `Authorization: Bearer <token>`; without one: only callers on loopback."""
    token = str(settings.METRICS_TOKEN)
    if not token:
        return _loopback(request.META.get("REMOTE_ADDR", ""))
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: this process's default registry, in the exposition format the scraper asks for."""
    if not metrics_allowed(request):
        return error_response(request, 403, "Metrics need the scrape token (or a loopback caller when none is set).")
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(REGISTRY), content_type=content_type)
