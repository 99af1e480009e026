"""The gateway: every request whose path a route claims is authenticated at the edge, rate-limited, and
served by its domain's target: in-process (legacy or app URLconf, no extra hop) or proxied to a remote
deployable. Paths no route claims (probes, admin, the web UI) pass straight through.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from asgiref.sync import markcoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase

from apps.kernel.errors import error_response
from gateway import metrics
from gateway.dispatch import target_choose, target_urlconf
from gateway.edge import ANONYMOUS, EdgeAuthError, RateLimitDecision, edge_authenticate, rate_limit_check
from gateway.proxy import proxy_request
from gateway.routes import Route, route_table
from gateway.shadow import shadow_schedule

SAFE_METHODS = frozenset({"GET", "HEAD"})
EDGE_PASS = "edge_pass"  # noqa: S105 (the request attribute EdgePassedMiddleware reads, not a secret)


def path_steps_out(path: str) -> bool:
    """Whether a path has '.' or '..' segments: the proxy's URL library would resolve them after the edge judged
    the path (and %2e arrives here already decoded)."""
    return any(segment in (".", "..") for segment in path.split("/"))


@dataclass(frozen=True)
class EdgePass:
    """A routed request the edge let through to a target: what serving it still needs from the edge."""

    route: Route
    decision: RateLimitDecision
    target: str
    started: float  # perf_counter() when the edge began

    def enter(self, request: HttpRequest) -> None:
        """Before an in-process target serves it: the target's URLconf resolves the request."""
        request.urlconf = target_urlconf(self.route.domain, self.target)  # type: ignore[attr-defined]

    def leave(self, response: HttpResponseBase) -> None:
        """On the way out: the rate-limit headers and the route's metrics."""
        self.decision.apply_headers(response)
        metrics.request_observed(
            self.route.domain, self.target, response.status_code, time.perf_counter() - self.started
        )


async def edge_pass(*, path: str, authorization: str, client_ip: str) -> EdgePass | None:
    """The edge's checks for a request that reached this process outside Django's handler (config/tus_plane.py):
    the pass when the gateway would serve the path in this process, else None. The caller then hands the request
    to Django, where GatewayMiddleware renders the refusal (one implementation of each); a request refused by the
    rate limit has then been counted twice."""
    table = route_table()
    route = None if path_steps_out(path) else table.match(path)
    if route is None:
        return None
    started = time.perf_counter()
    try:
        identity = edge_authenticate(authorization, route, path)
    except EdgeAuthError:
        return None
    decision = await rate_limit_check(identity=identity, client_ip=client_ip, limits=table.rate_limits)
    target = target_choose(route, identity.user_id or client_ip)
    if not decision.allowed or target == "remote":
        return None
    return EdgePass(route=route, decision=decision, target=target, started=started)


class EdgePassedMiddleware:
    """GatewayMiddleware's synchronous stand-in, for a request whose edge checks already ran (`edge_pass`) and
    which is served in this process: everything GatewayMiddleware does after its checks."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        passed = getattr(request, EDGE_PASS, None)
        if not isinstance(passed, EdgePass):
            raise ImproperlyConfigured("EdgePassedMiddleware serves only requests that passed the edge (edge_pass).")
        passed.enter(request)
        response = self.get_response(request)
        passed.leave(response)
        return response


class GatewayMiddleware:
    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]]) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)
        route_table()  # a broken route table stops the process at start-up, naming the mistake

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        table = route_table()
        if path_steps_out(request.path):
            return error_response(request, 400, "The path may not contain '.' or '..' segments.")
        route = table.match(request.path)
        if route is None:
            return await self.get_response(request)
        started = time.perf_counter()
        client_ip = request.META.get("REMOTE_ADDR", "")
        try:
            identity = edge_authenticate(request.headers.get("Authorization", ""), route, request.path)
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
        passed = EdgePass(route=route, decision=decision, target=target, started=started)
        if target == "remote":
            response = await proxy_request(request, route, identity=identity)
        else:
            passed.enter(request)
            response = await self.get_response(request)
        passed.leave(response)
        if route.shadow and request.method in SAFE_METHODS:
            shadow_schedule(request, route, primary_target=target, primary=response, get_response=self.get_response)
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
