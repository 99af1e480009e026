"""Shadow traffic: mirror a route's safe GETs to a second target in the background and diff the answers.

The caller's response always comes from the primary target and is never delayed or changed: the mirrored
request runs as a background task (held in `_tasks` so it is not garbage collected, never awaited by the
request), bounded by the route's `shadow.timeout` and sampled by `shadow.sample_percent`. A streamed
primary body is copied as it goes out, up to MAX_BODY_BYTES; past that the comparison is given up.

Both answers are compared by status and body: JSON bodies structurally, ignoring the route's volatile keys
at any depth, other bodies by SHA-256. Each outcome is counted (same, diff, error); a diff is logged as one
JSON line and the last GATEWAY_SHADOW_KEEP are kept in Redis for `manage.py gateway diffs`. Nothing in
here raises into the request: failures are logged and counted as errors.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import io
import json
import logging
import random
import re
import time
import weakref
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import redis.asyncio as aioredis
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse

from apps.kernel.request_id import REQUEST_ID_HEADER, request_id_bound
from gateway import metrics
from gateway.dispatch import target_urlconf
from gateway.http import http_client
from gateway.routes import Route, Shadow

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20  # bodies larger than this (either side) are not compared
MAX_PENDING = 256  # mirrored requests in flight per process; beyond this new ones are skipped
MAX_DIFFERENCES = 50  # differing paths kept per diff record
_DROPPED_HEADERS = frozenset({b"content-length", b"transfer-encoding", b"x-shadow"})
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_tasks: set[asyncio.Task[Any]] = set()
_last_skip_warning = 0.0


class ShadowError(Exception):
    """The mirrored request could not be made or its answer not read; the message says why."""


@dataclass(frozen=True)
class Reply:
    """What one side answered, as far as the comparison cares."""

    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Comparison:
    differences: tuple[str, ...]
    status_differs: bool

    @property
    def same(self) -> bool:
        return not self.status_differs and not self.differences


@dataclass(frozen=True)
class _Mirror:
    """Everything the background job needs, captured while the request is being served."""

    domain: str
    method: str
    path: str
    primary_target: str
    shadow: Shadow
    request_id: str | None


# --- comparing -------------------------------------------------------------------------------------------


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _key_path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if _IDENTIFIER.match(key) else f"{parent}[{json.dumps(key)}]"


def json_differences(primary: Any, shadow: Any, volatile: Iterable[str] = (), path: str = "$") -> list[str]:
    """Paths (like `$.items[0].name`) where two parsed JSON documents differ, ignoring volatile keys at any depth.

    A key present on one side only, an array element past the other's end, and a change of JSON type
    (`1` vs `true` vs `1.0`) all count as differences.
    """
    ignored = frozenset(volatile)
    found: list[str] = []
    _walk(primary, shadow, ignored, path, found)
    return found


def _walk(left: Any, right: Any, ignored: frozenset[str], path: str, found: list[str]) -> None:
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right)):
            if key in ignored:
                continue
            child = _key_path(path, key)
            if key in left and key in right:
                _walk(left[key], right[key], ignored, child, found)
            else:
                found.append(child)
    elif isinstance(left, list) and isinstance(right, list):
        for index in range(max(len(left), len(right))):
            child = f"{path}[{index}]"
            if index < len(left) and index < len(right):
                _walk(left[index], right[index], ignored, child, found)
            else:
                found.append(child)
    elif type(left) is not type(right) or left != right:
        found.append(path)


def replies_compare(primary: Reply, shadow: Reply, volatile: Iterable[str] = ()) -> Comparison:
    """Statuses, then bodies: structurally when both are JSON, otherwise by SHA-256 (a difference at `$`)."""
    status_differs = primary.status != shadow.status
    if _is_json(primary.content_type) and _is_json(shadow.content_type):
        try:
            left, right = json.loads(primary.body), json.loads(shadow.body)
        except ValueError:
            pass  # labelled JSON but not parseable: fall back to comparing the bytes
        else:
            return Comparison(tuple(json_differences(left, right, volatile)), status_differs)
    same_bytes = hashlib.sha256(primary.body).digest() == hashlib.sha256(shadow.body).digest()
    return Comparison(() if same_bytes else ("$",), status_differs)


def _decoded(body: bytes, content_encoding: str) -> bytes:
    """The primary's body as the shadow client sees it (httpx undoes gzip/deflate on its side)."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise ShadowError(f"cannot compare a body with Content-Encoding {content_encoding!r}")
    decoder = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        decoded = decoder.decompress(body, MAX_BODY_BYTES + 1)
    except zlib.error as exc:
        raise ShadowError(f"cannot decode the primary's {encoding} body: {exc}") from exc
    if len(decoded) > MAX_BODY_BYTES:
        raise ShadowError(f"the primary's decoded body is over {MAX_BODY_BYTES} bytes")
    return decoded


# --- recording -------------------------------------------------------------------------------------------

_redis_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aioredis.Redis]] = (
    weakref.WeakKeyDictionary()
)


def redis_async() -> aioredis.Redis:
    """An async Redis client for REDIS_URL, one per event loop (a client cannot be shared across loops)."""
    by_url = _redis_clients.setdefault(asyncio.get_running_loop(), {})
    client = by_url.get(settings.REDIS_URL)
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        by_url[settings.REDIS_URL] = client
    return client


def diffs_key() -> str:
    """The Redis list of recent diffs, newest first."""
    return f"{settings.GATEWAY_REDIS_PREFIX}shadow:diffs"


def _diff_record(mirror: _Mirror, primary: Reply, shadow: Reply, comparison: Comparison) -> dict[str, Any]:
    differences = list(comparison.differences[:MAX_DIFFERENCES])
    if len(comparison.differences) > MAX_DIFFERENCES:
        differences.append(f"... {len(comparison.differences) - MAX_DIFFERENCES} more")
    return {
        "at": datetime.now(tz=UTC).isoformat(),
        "domain": mirror.domain,
        "method": mirror.method,
        "path": mirror.path,
        "primary_target": mirror.primary_target,
        "shadow_target": mirror.shadow.target,
        "status": [primary.status, shadow.status],
        "differences": differences,
        "request_id": mirror.request_id,
    }


async def _record(mirror: _Mirror, primary: Reply, shadow: Reply) -> None:
    comparison = replies_compare(primary, shadow, mirror.shadow.volatile)
    if comparison.same:
        metrics.SHADOW_COMPARISONS.labels(mirror.domain, "same").inc()
        return
    metrics.SHADOW_COMPARISONS.labels(mirror.domain, "diff").inc()
    line = json.dumps(_diff_record(mirror, primary, shadow, comparison), separators=(",", ":"))
    logger.warning("shadow diff %s", line)
    try:
        async with redis_async().pipeline(transaction=True) as pipe:
            pipe.lpush(diffs_key(), line)
            pipe.ltrim(diffs_key(), 0, max(0, int(settings.GATEWAY_SHADOW_KEEP) - 1))
            await pipe.execute()
    except (aioredis.RedisError, OSError) as exc:
        logger.warning("shadow diff not kept for `gateway diffs`: Redis unavailable (%s: %s)", type(exc).__name__, exc)


# --- the mirrored request --------------------------------------------------------------------------------


async def _read_capped(chunks: AsyncIterator[bytes]) -> bytes:
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ShadowError(f"the shadow's body is over {MAX_BODY_BYTES} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _read_capped_sync(chunks: Iterator[bytes]) -> bytes:
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ShadowError(f"the shadow's body is over {MAX_BODY_BYTES} bytes")
        parts.append(chunk)
    return b"".join(parts)


async def _fetch_remote(route: Route, path: str, headers: dict[str, str]) -> Reply:
    """GET from the route's upstreams in order; the first that answers at all (any status) is the shadow."""
    failures = []
    for upstream in route.upstreams:
        try:
            async with http_client().stream("GET", upstream + path, headers=headers) as response:
                body = await _read_capped(response.aiter_bytes())
                return Reply(response.status_code, response.headers.get("content-type", ""), body)
        except httpx.TransportError as exc:
            failures.append(f"{upstream}: {type(exc).__name__}")
    raise ShadowError("no upstream answered (" + "; ".join(failures) + ")")


async def _fetch_in_process(
    scope: dict[str, Any],
    *,
    route: Route,
    target: str,
    request_id: str | None,
    get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]],
) -> Reply:
    """Serve a copy of the request (GET, no body, X-Shadow: 1) through the rest of the middleware chain."""
    headers = [(name, value) for name, value in scope.get("headers", []) if name.lower() not in _DROPPED_HEADERS]
    request = ASGIRequest({**scope, "method": "GET", "headers": [*headers, (b"x-shadow", b"1")]}, io.BytesIO())
    request.urlconf = target_urlconf(route.domain, target)  # type: ignore[attr-defined]
    request.request_id = request_id  # type: ignore[attr-defined]
    # like Django's ASGI handler: sync code of this request runs on one thread of its own, released afterwards
    async with ThreadSensitiveContext():
        response = await get_response(request)
        try:
            if isinstance(response, StreamingHttpResponse):
                if response.is_async:
                    body = await _read_capped(aiter(response.streaming_content))  # type: ignore[arg-type]
                else:
                    body = await sync_to_async(_read_capped_sync)(iter(response.streaming_content))  # type: ignore[arg-type]
            else:
                body = bytes(getattr(response, "content", b""))
        finally:
            await sync_to_async(response.close)()
    return Reply(response.status_code, response.get("Content-Type", ""), body)


@dataclass(frozen=True)
class _Failed:
    reason: str


async def _fetch(mirror: _Mirror, fetch: Callable[[], Coroutine[Any, Any, Reply]]) -> Reply | _Failed:
    """The shadow's answer, or why there is none; never raises (its task may never be awaited)."""
    with request_id_bound(mirror.request_id):
        try:
            async with asyncio.timeout(mirror.shadow.timeout):
                return await fetch()
        except TimeoutError:
            return _Failed(f"timed out after {mirror.shadow.timeout:g}s")
        except ShadowError as exc:
            return _Failed(str(exc))
        except Exception as exc:
            logger.exception("shadow request to %s failed unexpectedly", mirror.shadow.target)
            return _Failed(f"{type(exc).__name__}: {exc}")


async def _compare(mirror: _Mirror, fetched: asyncio.Task[Reply | _Failed], primary: Reply, encoding: str) -> None:
    with request_id_bound(mirror.request_id):
        try:
            shadow = await fetched
            if isinstance(shadow, _Failed):
                raise ShadowError(shadow.reason)
            primary = Reply(primary.status, primary.content_type, _decoded(primary.body, encoding))
            await _record(mirror, primary, shadow)
        except Exception as exc:
            metrics.SHADOW_COMPARISONS.labels(mirror.domain, "error").inc()
            logger.warning("shadow %s %s to %s not compared: %s", mirror.method, mirror.path, mirror.shadow.target, exc)


def _spawn(coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    # A fresh context: the request's thread-sensitive context ends with the request, this task outlives it.
    task = asyncio.get_running_loop().create_task(coroutine, context=contextvars.Context())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


# --- copying a streamed primary ----------------------------------------------------------------------------


class _Tee:
    """Keeps a copy of the bytes going out (up to MAX_BODY_BYTES) and starts the comparison when they end."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, on_end: Callable[[bytes], None], on_abandon: Callable[[str], None]
    ):
        self.loop = loop
        self.on_end = on_end
        self.on_abandon = on_abandon
        self.parts: list[bytes] | None = []
        self.size = 0
        self.settled = False

    def add(self, chunk: bytes) -> None:
        if self.parts is None:
            return
        self.size += len(chunk)
        if self.size > MAX_BODY_BYTES:
            self.parts = None
            self._settle(lambda: self.on_abandon(f"the primary's body is over {MAX_BODY_BYTES} bytes"))
        else:
            self.parts.append(chunk)

    def end(self) -> None:
        parts = self.parts
        if parts is not None:
            self._settle(lambda: self.on_end(b"".join(parts)))

    def abandon(self, reason: str) -> None:
        self._settle(lambda: self.on_abandon(reason))

    def _settle(self, callback: Callable[[], None]) -> None:
        if not self.settled:
            self.settled = True
            self.loop.call_soon_threadsafe(callback)  # a sync stream is consumed on a worker thread

    def wrap_async(self, source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async def tee() -> AsyncIterator[bytes]:
            try:
                async for chunk in source:
                    self.add(chunk)
                    yield chunk
            except BaseException:
                self.abandon("the primary's stream did not finish")
                raise
            self.end()

        return tee()

    def wrap_sync(self, source: Iterator[bytes]) -> Iterator[bytes]:
        def tee() -> Iterator[bytes]:
            try:
                for chunk in source:
                    self.add(chunk)
                    yield chunk
            except BaseException:
                self.abandon("the primary's stream did not finish")
                raise
            self.end()

        return tee()


# --- entry points ------------------------------------------------------------------------------------------


def _sampled(shadow: Shadow) -> bool:
    if shadow.sample_percent >= 100:
        return True
    return random.uniform(0, 100) < shadow.sample_percent  # noqa: S311 (sampling, not security)


def _room_for_one_more() -> bool:
    global _last_skip_warning
    if len(_tasks) < MAX_PENDING:
        return True
    if time.monotonic() - _last_skip_warning > 10:
        _last_skip_warning = time.monotonic()
        logger.warning("shadow requests skipped: %d mirrored requests are still in flight", len(_tasks))
    return False


def shadow_schedule(
    request: HttpRequest,
    route: Route,
    *,
    primary_target: str,
    primary: HttpResponseBase,
    get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]],
) -> None:
    """Start the mirrored request in the background; never delays or changes the primary response."""
    shadow = route.shadow
    if shadow is None or request.method != "GET" or shadow.target == primary_target:
        return  # a canary may already have sent this caller to the shadow target: nothing to compare against
    if not _sampled(shadow) or not _room_for_one_more():
        return
    mirror = _Mirror(
        domain=route.domain,
        method="GET",
        path=request.get_full_path(),
        primary_target=primary_target,
        shadow=shadow,
        request_id=getattr(request, "request_id", None),
    )
    try:
        _start(request, route, mirror, primary, get_response)
    except Exception:
        metrics.SHADOW_COMPARISONS.labels(route.domain, "error").inc()
        logger.exception("shadow of %s %s could not be started", mirror.method, mirror.path)


def _remote_headers(request: HttpRequest, route: Route, mirror: _Mirror) -> dict[str, str]:
    """What the deployable needs to answer as it would through the proxy: identity, negotiation, provenance."""
    headers = {"X-Shadow": "1"}
    for name in ("Authorization", "Accept", "Accept-Language"):
        if value := request.headers.get(name):
            headers[name] = value
    if mirror.request_id:
        headers[REQUEST_ID_HEADER] = mirror.request_id
    client = request.META.get("REMOTE_ADDR", "")
    earlier = request.headers.get("X-Forwarded-For", "").strip()
    headers["X-Forwarded-For"] = f"{earlier}, {client}" if earlier else client
    headers["X-Forwarded-Proto"] = request.scheme or "http"
    headers["X-Forwarded-Host"] = request.get_host()
    return headers


def _start(
    request: HttpRequest,
    route: Route,
    mirror: _Mirror,
    primary: HttpResponseBase,
    get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]],
) -> None:
    fetch: Callable[[], Coroutine[Any, Any, Reply]]
    if mirror.shadow.target == "remote":
        headers = _remote_headers(request, route, mirror)

        def fetch() -> Coroutine[Any, Any, Reply]:
            return _fetch_remote(route, mirror.path, headers)  # bounded by shadow.timeout in _fetch

    else:
        scope = getattr(request, "scope", None)
        if scope is None:
            raise ShadowError("an in-process shadow needs an ASGI request")

        def fetch() -> Coroutine[Any, Any, Reply]:
            return _fetch_in_process(
                scope, route=route, target=mirror.shadow.target, request_id=mirror.request_id, get_response=get_response
            )

    status, content_type = primary.status_code, primary.get("Content-Type", "")
    encoding = primary.get("Content-Encoding", "")

    if not isinstance(primary, StreamingHttpResponse):
        body = bytes(getattr(primary, "content", b""))
        if len(body) > MAX_BODY_BYTES:
            logger.info(
                "shadow of %s %s skipped: the primary's body is over %d bytes",
                mirror.method,
                mirror.path,
                MAX_BODY_BYTES,
            )
            return
        _spawn(_compare(mirror, _spawn(_fetch(mirror, fetch)), Reply(status, content_type, body), encoding))
        return

    fetched = _spawn(_fetch(mirror, fetch))  # concurrently with the primary's stream, so both see the same moment

    def on_end(body: bytes) -> None:
        _spawn(_compare(mirror, fetched, Reply(status, content_type, body), encoding))

    def on_abandon(reason: str) -> None:
        fetched.cancel()
        logger.info("shadow of %s %s given up: %s", mirror.method, mirror.path, reason)

    tee = _Tee(asyncio.get_running_loop(), on_end, on_abandon)
    if primary.is_async:
        primary.streaming_content = tee.wrap_async(aiter(primary.streaming_content))  # type: ignore[arg-type]
    else:
        primary.streaming_content = tee.wrap_sync(iter(primary.streaming_content))  # type: ignore[arg-type]


async def shadow_drain() -> None:
    """Wait until every mirrored request started on this event loop has been compared (tests, shutdown)."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(0)  # let callbacks queued by finished streams start their comparisons
        pending = [task for task in _tasks if task.get_loop() is loop and not task.done()]
        if not pending:
            return
        await asyncio.wait(pending)
