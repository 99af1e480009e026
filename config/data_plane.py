"""The data plane: requests whose view streams its body (the tus PATCH) served on Django's synchronous core,
bypassing Django's asynchronous request cycle (ADR 0009).

A multi-GB upload arrives as thousands of 8-64 MiB PATCHes. Through Django's ASGI handler each one crossed the
asynchronous middleware chain, its tasks and its thread hops on the event loop, the one thread that also receives
every other request; that cost about a third of the upload's throughput (tests/benchmarks/files/README.md). Here
such a request takes a shorter way, and only that changes:
- the gateway's edge judges it on the event loop as GatewayMiddleware would (gateway.middleware.edge_judge): the
  token, the caller's target, the rate limit (counted once);
- its body is claimed from the socket (config/socket_body.py), as BodyStreamingHandler would claim it;
- then, on a pooled request thread, Django's synchronous core serves it: `request_started`, every middleware of
  settings.MIDDLEWARE in its order with EdgeJudgedMiddleware in GatewayMiddleware's place (which also answers the
  edge's refusals), URL resolution, the view with DRF's authentication, permissions and error envelope, and
  `request_finished` once the response is sent.
So the view, every refusal and every response header come from the same code as on Django's path
(tests/config/test_data_plane.py compares the two). Django's handler still serves a streamed request whose body the
server does not offer from the socket, and, with the claimed body passed on unread, one whose path no route claims
here or whose caller's target is remote (decided before anything is counted) or whose edge failed.

Knowingly different: the edge judges before the middleware that sit above GatewayMiddleware (request id, security,
CORS) run, so a request SecurityMiddleware redirects to https has been counted against the rate limit, and the
edge's own log lines carry no request id. Each middleware has a second instance, in the plane's core.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import IO, Any, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.asgi import get_script_prefix
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponseBase
from django.urls import set_script_prefix
from django.utils.module_loading import import_string
from prometheus_client import Counter

from apps.files.api.asgi import SOCKET_BODY, BodyStreamingHandler, Receive, Scope, Send
from config.socket_body import SocketBodyReader
from gateway.middleware import EDGE_VERDICT, EdgeJudgedMiddleware, EdgeVerdict, GatewayMiddleware, edge_judge

logger = logging.getLogger(__name__)
REQUESTS = Counter(
    "fip_data_plane_requests_total",
    "Requests whose view streams its body, by what served them: the data plane, or Django's handler (the body could "
    "not be read from the socket, or the gateway would not serve the request in this process).",
    ["served_by"],
)
SERVED_BY_PLANE, SERVED_BY_DJANGO = REQUESTS.labels("plane"), REQUESTS.labels("django")  # exported from the start


class SyncCore(BaseHandler):
    """Django's synchronous request core over settings.MIDDLEWARE, with EdgeJudgedMiddleware standing in for the
    asynchronous GatewayMiddleware. Every other middleware must be able to run synchronously."""

    judges_edge = False  # whether GatewayMiddleware is in the chain, so the edge must judge before the core runs

    def load_middleware(self, is_async: bool = False) -> None:
        if is_async:
            raise ImproperlyConfigured("The data plane's core is synchronous.")
        self._view_middleware: list[Callable[..., Any]] = []
        self._template_response_middleware: list[Callable[..., Any]] = []
        self._exception_middleware: list[Callable[..., Any]] = []
        core = self._get_response  # type: ignore[attr-defined]  # BaseHandler's view step, as Django's handlers use it
        handler: Callable[[HttpRequest], Any] = convert_exception_to_response(core)
        for path in reversed(settings.MIDDLEWARE):
            middleware = import_string(path)
            if middleware is GatewayMiddleware:
                middleware, self.judges_edge = EdgeJudgedMiddleware, True
            elif not getattr(middleware, "sync_capable", True):
                raise ImproperlyConfigured(f"{path} cannot run synchronously, as the data plane runs it.")
            try:
                instance = middleware(handler)
            except MiddlewareNotUsed:
                continue
            if instance is None:
                raise ImproperlyConfigured(f"Middleware factory {path} returned None.")
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, self.adapt_method_mode(False, instance.process_view))
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(
                    self.adapt_method_mode(False, instance.process_template_response)
                )
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(self.adapt_method_mode(False, instance.process_exception))
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler


class DataPlane:
    """The HTTP application in front of Django's handler (see the module docstring)."""

    def __init__(self, django: BodyStreamingHandler) -> None:
        self.django = django
        self.core = SyncCore()
        self.core.load_middleware()
        self.edge = self.core.judges_edge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        socket_body = scope.get("extensions", {}).get(SOCKET_BODY)
        if socket_body is None or not self.django.streams(scope):
            await self.django(scope, receive, send)
            return
        reader: SocketBodyReader | None = socket_body.claim(self.django.idle_timeout)
        if reader is None:
            SERVED_BY_DJANGO.inc()
            await self.django(scope, receive, send)
            return
        try:
            verdict = await self._edge(scope)
            if verdict is None and self.edge:
                SERVED_BY_DJANGO.inc()
                await self.django.serve_claimed(scope, reader, send)
                return
            SERVED_BY_PLANE.inc()
            async with self.django.request_thread():
                response = await sync_to_async(self._respond, thread_sensitive=True)(scope, reader, verdict)
                try:
                    await self.django.send_response(response, send)
                finally:
                    await sync_to_async(response.close, thread_sensitive=True)()  # request_finished
        finally:  # also when cancelled (a shutdown): the request's thread must not go on reading the socket
            reader.release()

    async def _edge(self, scope: Scope) -> EdgeVerdict | None:
        """The edge's verdict, judged as GatewayMiddleware would from the request's path, Authorization and address
        (as Django reads them: repeated headers joined with commas); None for Django's handler to take."""
        if not self.edge:
            return None
        authorization = ",".join(
            value.decode("latin-1") for name, value in scope.get("headers", []) if name.lower() == b"authorization"
        )
        client = scope.get("client") or ("", 0)
        try:
            return await edge_judge(path=str(scope["path"]), authorization=authorization, client_ip=str(client[0]))
        except Exception:  # Django's handler judges it again, and renders whatever fails there as any 500
            logger.exception("data plane: the edge failed; handing the request to Django")
            return None

    def _respond(self, scope: Scope, reader: SocketBodyReader, verdict: EdgeVerdict | None) -> HttpResponseBase:
        """On the request's thread: Django's synchronous core, between the signals Django's handler sends."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.django.__class__, scope=scope)
        request, refusal = self.django.create_request(scope, cast(IO[bytes], reader))
        if request is None:
            response = cast(HttpResponseBase, refusal)
        else:
            if verdict is not None:
                setattr(request, EDGE_VERDICT, verdict)
            response = self.core.get_response(request)
        response._handler_class = self.django.__class__  # type: ignore[attr-defined]  # close() signals with it
        return response


def data_plane(django: BodyStreamingHandler) -> DataPlane | BodyStreamingHandler:
    """The data plane in front of `django`, or `django` alone when settings.DATA_PLANE is off or the middleware
    cannot run on the plane's synchronous core (logged)."""
    if not settings.DATA_PLANE:
        return django
    try:
        return DataPlane(django)
    except ImproperlyConfigured as exc:
        logger.warning("data plane off: %s", exc)
        return django
