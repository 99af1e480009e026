"""Remote dispatch: a streaming reverse proxy to an extracted deployable, on the gateway's pooled httpx client.

Why it looks like this:

- Memory stays flat whatever the body size. Django's ASGI handler has already spooled the request body
  (RAM, then disk) before any view runs, so it is forwarded from that spool in 64 KiB reads; the answer is
  relayed as it arrives through an async StreamingHttpResponse, raw (still compressed, length intact).
  Nothing reads `request.body` or a whole response.
- Headers are rewritten the way a proxy must: hop-by-hop ones (and any the Connection header names) are
  dropped both ways; the client's Host, cookies and any X-Internal-Token it made up never reach the
  deployable; X-Forwarded-For/-Proto/-Host and the request id are set. The user's JWT travels unchanged
  (deployables verify it with the public key); no internal service token is minted for edge traffic, so a
  public caller can never pass for one of the platform's own deployables. The gateway owns CORS, so an
  upstream's Access-Control-* headers are dropped, and the server sets Date/Server itself.
- Failures are retried only when that is safe. A connect failure sent nothing, so any method may move on
  to the next upstream; after that, only an idempotent request without a body is tried again. The last
  failure becomes the API error envelope: 504 when an upstream took too long to answer, 502 when it could
  not be reached or broke the connection, 503 with Retry-After when every upstream is ejected or behind an
  open breaker. A 502/503/504 the upstream
  itself sent is passed on as it is.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from http.cookies import CookieError, Morsel
from itertools import cycle, islice
from typing import Any

import httpx
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse

from apps.kernel.errors import error_response
from apps.kernel.internal_auth import INTERNAL_TOKEN_HEADER
from apps.kernel.request_id import REQUEST_ID_HEADER, request_id_get
from gateway import metrics, upstreams
from gateway.edge import Identity
from gateway.http import http_client
from gateway.routes import Route

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 16
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# set by the gateway itself, or never the deployable's business (Expect is answered by the gateway's server)
NOT_FORWARDED = frozenset(
    {"host", "cookie", "expect", INTERNAL_TOKEN_HEADER.lower(), REQUEST_ID_HEADER.lower()}
    | {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-real-ip", "x-shadow"}
)
# what the pooled client adds by default; left out unless the caller sent them (an Accept-Encoding the caller
# never sent could get it a compressed body it cannot read, since bodies are relayed raw)
CLIENT_DEFAULTS = frozenset({"accept", "accept-encoding", "user-agent"})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRYABLE_STATUSES = frozenset({502, 503, 504})
CONNECT_PHASE = frozenset({"connect", "connect_timeout", "breaker_open"})  # nothing was sent to the upstream


def _named_in_connection(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",") if token.strip()}


def upstream_request_headers(request: HttpRequest, route: Route) -> list[tuple[str, str]]:
    """What the deployable receives: the client's end-to-end headers plus the gateway's own."""
    dropped = HOP_BY_HOP | NOT_FORWARDED | _named_in_connection(request.headers.get("Connection", ""))
    headers = [(name, value) for name, value in request.headers.items() if name.lower() not in dropped]
    if not _RequestBody.present(request):
        headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
    client = request.META.get("REMOTE_ADDR", "")
    earlier = request.headers.get("X-Forwarded-For", "").strip()
    headers += [
        ("X-Forwarded-For", f"{earlier}, {client}" if earlier else client),
        ("X-Forwarded-Proto", request.scheme or "http"),
        ("X-Forwarded-Host", request.get_host()),
    ]
    request_id = request_id_get()
    if request_id:
        headers.append((REQUEST_ID_HEADER, request_id))
    return headers


class _RequestBody:
    """The spooled request body, read lazily and only once; `started` tells whether any of it went out."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        self.started = False

    @staticmethod
    def present(request: HttpRequest) -> bool:
        length = request.META.get("CONTENT_LENGTH") or "0"
        return (length.isdigit() and int(length) > 0) or "HTTP_TRANSFER_ENCODING" in request.META

    def stream(self) -> AsyncIterator[bytes] | None:
        return self._chunks() if self.present(self.request) else None

    async def _chunks(self) -> AsyncIterator[bytes]:
        self.started = True
        while chunk := self.request.read(CHUNK_SIZE):  # a local spool file: short reads, no network wait
            yield chunk


class _UpstreamStatus(Exception):
    """The upstream answered 502/503/504: a failure for its breaker, perhaps worth another attempt."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass
class _Failure:
    url: str
    kind: str  # connect | connect_timeout | breaker_open | timeout | protocol | status_5xx
    detail: str
    response: httpx.Response | None = None  # the upstream's own 5xx, relayed if no retry follows


def _failure(url: str, exc: Exception) -> _Failure:
    if isinstance(exc, upstreams.BreakerOpen):
        return _Failure(url, "breaker_open", str(exc))
    if isinstance(exc, _UpstreamStatus):
        return _Failure(url, "status_5xx", f"HTTP {exc.response.status_code}", exc.response)
    if isinstance(exc, httpx.ConnectTimeout):
        return _Failure(url, "connect_timeout", repr(exc))
    if isinstance(exc, httpx.ConnectError):
        return _Failure(url, "connect", repr(exc))
    if isinstance(exc, httpx.TimeoutException):
        return _Failure(url, "timeout", repr(exc))
    return _Failure(url, "protocol", repr(exc))


def _may_try_again(failure: _Failure, method: str, body: _RequestBody) -> bool:
    if failure.kind in CONNECT_PHASE:
        return not body.started
    return method in IDEMPOTENT_METHODS and not _RequestBody.present(body.request)


def _timeout(route: Route) -> httpx.Timeout:
    t = route.timeouts
    return httpx.Timeout(connect=t.connect_timeout, read=t.read_timeout, write=t.read_timeout, pool=t.connect_timeout)


async def _attempt(
    request: HttpRequest, route: Route, url: str, headers: list[tuple[str, str]], body: _RequestBody
) -> httpx.Response:
    """Send the request to one upstream and wait for its response headers (the body is left to stream)."""
    client = http_client()
    outgoing = client.build_request(
        request.method or "GET",
        url + request.get_full_path(),
        headers=headers,
        content=body.stream(),
        timeout=_timeout(route),
    )
    for name in CLIENT_DEFAULTS - {name.lower() for name, _ in headers}:
        outgoing.headers.pop(name, None)
    async with upstreams.guarded(route, url):
        response = await client.send(outgoing, stream=True)
        if response.status_code in RETRYABLE_STATUSES:
            raise _UpstreamStatus(response)
    return response


async def proxy_request(request: HttpRequest, route: Route, *, identity: Identity) -> HttpResponseBase:
    """Serve `request` from one of the route's upstreams (identity travels in the forwarded Authorization)."""
    headers = upstream_request_headers(request, route)
    body = _RequestBody(request)
    order = [url for url in upstreams.rotation(route) if _in_play(route, url)]
    if not order:
        return _unavailable(request, route)
    failure: _Failure | None = None
    attempts = 0
    for url in islice(cycle(order), len(order) * (1 + route.timeouts.retries)):
        if attempts > route.timeouts.retries or (failure and not _may_try_again(failure, request.method or "", body)):
            break
        if not _in_play(route, url, count=False):
            continue
        if failure and failure.response is not None:
            await failure.response.aclose()
        try:
            response = await _attempt(request, route, url, headers, body)
        except (httpx.HTTPError, upstreams.BreakerOpen, _UpstreamStatus) as exc:
            failure = _failure(url, exc)
            if failure.kind != "breaker_open":  # refused before anything was sent: not an attempt
                attempts += 1
            _note_failure(route, failure)
            continue
        return _relay(route, url, response)
    return _final(request, route, failure)


def _in_play(route: Route, url: str, *, count: bool = True) -> bool:
    for kind, out in (("ejected", upstreams.ejected), ("breaker_open", upstreams.breaker_open)):
        if out(route, url):
            if count:
                metrics.UPSTREAM_ERRORS.labels(route.domain, url, kind).inc()
            return False
    return True


def _note_failure(route: Route, failure: _Failure) -> None:
    metrics.UPSTREAM_ERRORS.labels(route.domain, failure.url, failure.kind).inc()
    if failure.kind in ("connect", "connect_timeout"):
        upstreams.eject(route, failure.url)
    logger.warning("upstream %s of %s failed (%s): %s", failure.url, route.domain, failure.kind, failure.detail)


def _final(request: HttpRequest, route: Route, failure: _Failure | None) -> HttpResponseBase:
    if failure is None or failure.kind == "breaker_open":
        return _unavailable(request, route)
    if failure.response is not None:
        return _relay(route, failure.url, failure.response)
    if failure.kind == "timeout":
        return error_response(request, 504, "The upstream service did not answer in time.")
    if failure.kind == "connect_timeout":  # as good as down: nothing was sent, nothing is pending
        return error_response(request, 502, "The upstream service did not accept the connection in time.")
    if failure.kind == "connect":
        return error_response(request, 502, "The upstream service refused the connection.")
    return error_response(request, 502, "The upstream service broke the connection.")


def _unavailable(request: HttpRequest, route: Route) -> HttpResponseBase:
    response = error_response(request, 503, "No upstream of this service is available; retry after Retry-After.")
    response["Retry-After"] = str(upstreams.retry_after(route))
    return response


class _RelayedCookie(Morsel[str]):
    """One upstream Set-Cookie header, passed on verbatim.

    Django keeps a single value per header name; only cookies may repeat, so each relayed Set-Cookie rides
    in `response.cookies` and is written back exactly as the upstream sent it.
    """

    def __init__(self, raw: str) -> None:
        super().__init__()
        self.raw = raw
        name, _, value = raw.split(";", 1)[0].partition("=")
        with suppress(CookieError):  # a name Python's cookie module refuses is still relayed as sent
            self.set(name.strip(), value.strip(), value.strip())

    def OutputString(self, attrs: Any = None) -> str:  # the name http.cookies.Morsel gives it
        return self.raw


def _copy_response_headers(upstream: httpx.Response, response: StreamingHttpResponse) -> None:
    dropped = HOP_BY_HOP | _named_in_connection(upstream.headers.get("Connection", ""))
    cookies = 0
    for raw_name, raw_value in upstream.headers.raw:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        lower = name.lower()
        if lower in dropped or lower in ("date", "server") or lower.startswith("access-control-"):
            continue
        if lower == "set-cookie":
            dict.__setitem__(response.cookies, f"upstream-cookie-{cookies}", _RelayedCookie(value))
            cookies += 1
        elif response.has_header(name):
            response[name] = f"{response[name]}, {value}"
        else:
            response[name] = value


class _RelayedResponse(StreamingHttpResponse):
    """Closes the relay (so the upstream response) the moment the server stops reading, even on a disconnect.

    Django's ASGI handler consumes `aclosing(aiter(response))`, but the stock `__aiter__` only wraps the
    iterator, so an abandoned relay would wait for the garbage collector to close the upstream connection.
    """

    def __init__(self, relay: AsyncGenerator[bytes, None], *, status: int, reason: str | None) -> None:
        super().__init__(relay, status=status, reason=reason)
        self.relay = relay

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in super().__aiter__():  # streaming_content, as wrapped by others (e.g. the shadow tee)
                yield part
        finally:
            await self.relay.aclose()


def _relay(route: Route, url: str, upstream: httpx.Response) -> StreamingHttpResponse:
    response = _RelayedResponse(
        _relay_body(route, url, upstream), status=upstream.status_code, reason=upstream.reason_phrase or None
    )
    del response["Content-Type"]  # Django's default; the upstream's own, if any, is copied next
    _copy_response_headers(upstream, response)
    return response


async def _relay_body(route: Route, url: str, upstream: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The upstream's bytes as they come; the upstream response is closed however the relay ends."""
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        # headers are gone already: all that is left is to cut the client's connection short (re-raise)
        metrics.UPSTREAM_ERRORS.labels(route.domain, url, "body").inc()
        logger.warning("upstream %s of %s failed mid-body: %r", url, route.domain, exc)
        raise
    finally:
        await upstream.aclose()
