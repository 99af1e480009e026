"""The gateway: every request whose path a route claims is authenticated at the edge, rate-limited, and
served by its domain's target: in-process (legacy or app URLconf, no extra hop) or proxied to a remote
deployable. Paths no route claims (probes, admin, the web UI) pass straight through.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from asgiref.sync import markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from apps.kernel.errors import error_response
from gateway import metrics
from gateway.dispatch import target_choose, target_urlconf
from gateway.edge import ANONYMOUS, EdgeAuthError, RateLimitDecision, edge_authenticate, rate_limit_check
from gateway.proxy import proxy_request
from gateway.routes import route_table
from gateway.shadow import shadow_schedule

SAFE_METHODS = frozenset({"GET", "HEAD"})


class GatewayMiddleware:
    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]]) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)
        route_table()  # a broken route table stops the process at start-up, naming the mistake

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        table = route_table()
        if any(segment in (".", "..") for segment in request.path.split("/")):
            # no stepping out of a prefix: the proxy's URL library would resolve the dots after the edge judged
            # the path (and %2e arrives here already decoded)
            return error_response(request, 400, "The path may not contain '.' or '..' segments.")
        route = table.match(request.path)
        if route is None:
            return await self.get_response(request)
        started = time.perf_counter()
        client_ip = request.META.get("REMOTE_ADDR", "")
        try:
            identity = edge_authenticate(request, route)
        except EdgeAuthError as exc:
            # a refused token still counts against the caller's address, so guessing tokens is rate-limited too
            decision = await rate_limit_check(identity=ANONYMOUS, client_ip=client_ip, limits=table.rate_limits)
            response = self._refusal(request, decision) or error_response(request, 401, str(exc))
            if response.status_code == 401:
                response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            metrics.request_observed(route.domain, "edge", response.status_code, time.perf_counter() - started)
            return response
        decision = await rate_limit_check(identity=identity, client_ip=client_ip, limits=table.rate_limits)
        refusal = self._refusal(request, decision)
        if refusal is not None:
            metrics.request_observed(route.domain, "edge", refusal.status_code, time.perf_counter() - started)
            return refusal
        target = target_choose(route, identity.user_id or client_ip)
        if target == "remote":
            response = await proxy_request(request, route, identity=identity)
        else:
            request.urlconf = target_urlconf(route.domain, target)  # type: ignore[attr-defined]
            response = await self.get_response(request)
        decision.apply_headers(response)
        if route.shadow and request.method in SAFE_METHODS:
            shadow_schedule(request, route, primary_target=target, primary=response, get_response=self.get_response)
        metrics.request_observed(route.domain, target, response.status_code, time.perf_counter() - started)
        return response

    @staticmethod
    def _refusal(request: HttpRequest, decision: RateLimitDecision) -> HttpResponseBase | None:
        if decision.allowed:
            return None
        message = (
            "Too many requests; retry after the time in Retry-After."
            if decision.status == 429
            else "Rate limiting is unavailable; try again shortly."
        )
        response = error_response(request, decision.status, message)
        decision.apply_headers(response)
        return response
