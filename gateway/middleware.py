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
from gateway.edge import ANONYMOUS, EdgeAuthError, Identity, RateLimitDecision, edge_authenticate, rate_limit_check
from gateway.proxy import proxy_request
from gateway.routes import RateLimits, Route, route_table
from gateway.shadow import shadow_schedule

SAFE_METHODS = frozenset({"GET", "HEAD"})
EDGE_VERDICT = "edge_verdict"  # the request attribute EdgeJudgedMiddleware reads


def path_steps_out(path: str) -> bool:
    """Whether a path has '.' or '..' segments: the proxy's URL library would resolve them after the edge judged
    the path (and %2e arrives here already decoded)."""
    return any(segment in (".", "..") for segment in path.split("/"))


@dataclass(frozen=True)
class EdgeCaller:
    """Who calls a routed request and which target would serve them; a bad token is refused (target "edge")."""

    route: Route
    identity: Identity
    target: str
    auth_error: str  # why the token was refused, if it was
    started: float  # perf_counter() when the edge began

    async def judged(self, *, client_ip: str, limits: RateLimits) -> EdgeVerdict:
        """Counted against the rate limit: the caller's user, or their address when anonymous or refused (so
        guessing tokens is rate-limited too)."""
        return EdgeVerdict(self, await rate_limit_check(identity=self.identity, client_ip=client_ip, limits=limits))


def edge_caller(route: Route, *, path: str, authorization: str, client_ip: str) -> EdgeCaller:
    """The caller as the token says (anonymous when the token is refused), and the target their canary bucket picks."""
    started = time.perf_counter()
    try:
        identity = edge_authenticate(authorization, route, path)
    except EdgeAuthError as exc:
        return EdgeCaller(route, ANONYMOUS, "edge", str(exc), started)
    return EdgeCaller(route, identity, target_choose(route, identity.user_id or client_ip), "", started)


@dataclass(frozen=True)
class EdgeVerdict:
    """The edge's verdict on a routed request: refused (`refusal`), or served by the caller's target."""

    caller: EdgeCaller
    decision: RateLimitDecision

    @property
    def refused(self) -> bool:
        return bool(self.caller.auth_error) or not self.decision.allowed

    def refusal(self, request: HttpRequest) -> HttpResponseBase:
        """The edge's own answer: over the limit (or no limits to be had), else the token's 401."""
        if not self.decision.allowed:
            message = (
                "Too many requests; retry after the time in Retry-After."
                if self.decision.status == 429
                else "Rate limiting is unavailable; try again shortly."
            )
            response = error_response(request, self.decision.status, message)
            self.decision.apply_headers(response)
        else:
            response = error_response(request, 401, self.caller.auth_error)
            response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        self._observed("edge", response)
        return response

    def enter(self, request: HttpRequest) -> None:
        """Before an in-process target serves it: the target's URLconf resolves the request."""
        request.urlconf = target_urlconf(self.caller.route.domain, self.caller.target)  # type: ignore[attr-defined]

    def leave(self, response: HttpResponseBase) -> None:
        """On the way out: the rate-limit headers and the route's metrics."""
        self.decision.apply_headers(response)
        self._observed(self.caller.target, response)

    def _observed(self, target: str, response: HttpResponseBase) -> None:
        elapsed = time.perf_counter() - self.caller.started
        metrics.request_observed(self.caller.route.domain, target, response.status_code, elapsed)


async def edge_judge(*, path: str, authorization: str, client_ip: str) -> EdgeVerdict | None:
    """The edge's verdict on a request that reached this process outside Django's handler (config/data_plane.py),
    when this process would serve it: None for a path no route claims, one stepping out of its prefix, or a caller
    whose target is remote. Nothing is counted then: the caller hands the request to Django, where
    GatewayMiddleware judges it."""
    table = route_table()
    route = None if path_steps_out(path) else table.match(path)
    if route is None:
        return None
    caller = edge_caller(route, path=path, authorization=authorization, client_ip=client_ip)
    if caller.target == "remote":
        return None
    return await caller.judged(client_ip=client_ip, limits=table.rate_limits)


class EdgeJudgedMiddleware:
    """GatewayMiddleware's synchronous stand-in, for a request the edge has judged (`edge_judge`) and this process
    serves: the refusal, or everything GatewayMiddleware does around an in-process target."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        verdict = getattr(request, EDGE_VERDICT, None)
        if not isinstance(verdict, EdgeVerdict) or verdict.caller.target == "remote":
            raise ImproperlyConfigured("EdgeJudgedMiddleware serves only requests judged for this process.")
        if verdict.refused:
            return verdict.refusal(request)
        verdict.enter(request)
        response = self.get_response(request)
        verdict.leave(response)
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
        client_ip = request.META.get("REMOTE_ADDR", "")
        authorization = request.headers.get("Authorization", "")
        caller = edge_caller(route, path=request.path, authorization=authorization, client_ip=client_ip)
        verdict = await caller.judged(client_ip=client_ip, limits=table.rate_limits)
        if verdict.refused:
            return verdict.refusal(request)
        if caller.target == "remote":
            response = await proxy_request(request, route, identity=caller.identity)
        else:
            verdict.enter(request)
            response = await self.get_response(request)
        verdict.leave(response)
        if route.shadow and request.method in SAFE_METHODS:
            shadow_schedule(
                request, route, primary_target=caller.target, primary=response, get_response=self.get_response
            )
        return response
