"""Request bodies that reach their view while they arrive, under ASGI (the tus PATCH: chunks of up to 64 MiB).

Django's ASGI handler reads a whole request body into a spool (memory, then a temporary file) before any
middleware or view runs, so a PATCH's bytes were received, written to the spool, read back, hashed and written to
storage one step after the other. For a view that opts in (a class method `streams_request_body(method, headers)`
answering True), this handler gives the request a body that fills while the view reads it instead: a task on the
event loop pumps the `http.request` messages into a small bounded buffer and `read()`, on the view's worker
thread, takes them out. Where the server offers it (config/socket_body.py, our uvicorn protocol), the view's
thread reads the body straight from the socket instead, with no messages and no pump at all (ADR 0007); the pump
is the fallback for any other server. Receiving and storing overlap, nothing is spooled, and everything else is
as before: the middleware (the gateway's edge checks included), authentication and the view's own checks run
unchanged, and the view is the same one the WSGI path and the test client call.

Memory stays bounded: the pump stops asking for messages while HIGH_WATER bytes wait, so the server stops reading
the socket (uvicorn's flow control). A client that vanishes mid-body makes `read()` raise UnreadablePostError
(an OSError), as does a body idle for `idle_timeout` seconds, so a view holding a lock while it reads gives it up.
Only a request the process serves itself may stream: `urlconf_of(path)` names the URLconf that will serve the path
here, or None when it may be sent elsewhere (the gateway's proxy reads bodies on the event loop, where a streamed
body cannot wait; such a read raises rather than blocking the loop).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from types import ModuleType
from typing import IO, Any, Protocol, cast

from django.core.handlers.asgi import ASGIRequest
from django.http import UnreadablePostError
from django.urls import Resolver404, resolve

from apps.files.storage import Readable
from apps.kernel.request_threads import PooledThreadsHandler

HIGH_WATER = 4 * 1024**2  # bytes received and not yet read, at most (plus one ASGI message)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
SOCKET_BODY = "fip.socket_body"  # config/socket_body.py: the server lets the view read the body from the socket

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
UrlconfOf = Callable[[str], "str | ModuleType | None"]


class ClaimedBody(Readable, Protocol):
    """A body claimed from the server's socket (config/socket_body.py's reader): read on the view's thread,
    released on the event loop once the request is done."""

    def release(self) -> int | None: ...


class StreamedBody:
    """A request body filled by `pump` on the event loop and read by one worker thread, in arrival order."""

    def __init__(self, *, loop: asyncio.AbstractEventLoop, high_water: int, idle_timeout: float) -> None:
        self._loop, self._loop_thread = loop, threading.get_ident()
        self._high_water, self._idle_timeout = high_water, idle_timeout
        self._ready = threading.Condition()
        self._blocks: deque[bytes] = deque()
        self._buffered = 0
        self._ended = False  # the last message has arrived
        self._failure = ""  # why no more bytes will come, when the body did not end
        self._interrupted = ""  # why the reader no longer gets what did come
        self._pump_waiting = False
        self._room = asyncio.Event()
        self.disconnected = asyncio.Event()

    # --- the event loop's side --------------------------------------------------------------------------------------

    async def pump(self, receive: Receive) -> None:
        """Move the body's messages into the buffer; afterwards, wait for the client to go (as Django does)."""
        try:
            while not self._ended:
                await self._room_wait()
                message = await receive()
                if message["type"] == "http.disconnect":
                    self.fail("The client went away before sending the whole body.")
                    self.disconnected.set()
                    return
                self._put(message.get("body", b""), more=bool(message.get("more_body", False)))
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected.set()
        except Exception as exc:  # the server could not hand over the body: as good as a disconnect
            self.fail(f"The body could not be received ({exc.__class__.__name__}).")
            self.disconnected.set()
        finally:
            self.fail("The request ended before its body was read.")

    async def _room_wait(self) -> None:
        while True:
            with self._ready:
                if self._buffered < self._high_water or self._failure:
                    return
                self._room.clear()
                self._pump_waiting = True
            await self._room.wait()

    def _put(self, data: bytes, *, more: bool) -> None:
        with self._ready:
            if data and not self._interrupted:
                self._blocks.append(data)
                self._buffered += len(data)
            self._ended = not more
            self._ready.notify_all()

    def fail(self, reason: str) -> None:
        """No more bytes will come (unless the body is already complete); a waiting reader wakes and raises."""
        with self._ready:
            if not self._ended and not self._failure:
                self._failure = reason
            self._ready.notify_all()

    # --- the reader's side (a worker thread) ------------------------------------------------------------------------

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes, as they arrived (a short read rather than a copy to fill `size`); all that is left
        for a negative size; b"" once the body is complete."""
        if threading.get_ident() == self._loop_thread:
            raise UnreadablePostError("This request's body streams to a worker thread; the event loop cannot wait.")
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(HIGH_WATER), b""))
        if size == 0:
            return b""
        with self._ready:
            while not self._blocks:
                if self._interrupted:
                    raise UnreadablePostError(self._interrupted)
                if self._ended:
                    return b""
                if self._failure:
                    raise UnreadablePostError(self._failure)
                if not self._ready.wait(timeout=self._idle_timeout) and not self._blocks:
                    self._failure = f"No bytes of the body arrived for {self._idle_timeout:g} s."
            block = self._blocks.popleft()
            if len(block) > size:
                block, rest = block[:size], block[size:]
                self._blocks.appendleft(rest)
            self._buffered -= len(block)
            if self._pump_waiting and self._buffered < self._high_water:
                self._pump_waiting = False
                with suppress(RuntimeError):  # the loop has closed: nobody is pumping any more
                    self._loop.call_soon_threadsafe(self._room.set)
        return block

    def readinto(self, buffer: memoryview) -> int:
        block = self.read(len(buffer))
        buffer[: len(block)] = block
        return len(block)

    def interrupt(self, reason: str) -> None:
        """From any thread: the rest of the body is no longer wanted. What waits is dropped, and a waiting or later
        read fails with `reason`."""
        with self._ready:
            self._interrupted = self._interrupted or reason
            self._blocks.clear()
            self._buffered = 0
            self._ready.notify_all()

    def wait_readable(self, timeout: float) -> bool:
        """Whether a read would return at once within `timeout` seconds, reading nothing (config/socket_body.py)."""
        with self._ready:
            return self._ready.wait_for(
                lambda: bool(self._blocks or self._ended or self._failure or self._interrupted), timeout
            )

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.fail("The request has finished.")


class _AfterBody:
    """What Django's handler is given as `receive`: its body comes from the pump, and its disconnect listener
    hears the disconnect the pump saw (the pump is the only reader of the real `receive`)."""

    def __init__(self, body: StreamedBody) -> None:
        self.body = body

    async def __call__(self) -> Message:
        await self.body.disconnected.wait()
        return {"type": "http.disconnect"}


class _FromSocket:
    """What Django's handler is given as `receive` when the server lets the view read the body from the socket:
    the body is the server's reader, and no disconnect is heard before the view finds it (its read raises)."""

    def __init__(self, body: Readable) -> None:
        self.body = body

    async def __call__(self) -> Message:
        await asyncio.Event().wait()  # never set: Django cancels this listener once the response is sent
        return {"type": "http.disconnect"}


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}


class StreamingRequest(ASGIRequest):
    """Django's ASGI request, whose body can also be read into the caller's buffer, as the tus PATCH reads it."""

    def readinto(self, buffer: memoryview) -> int:
        self._read_started = True
        try:
            return cast(int, cast(Any, self._stream).readinto(buffer))
        except OSError as exc:  # as HttpRequest.read has it
            raise UnreadablePostError(*exc.args) from exc

    @property
    def interrupt(self) -> Callable[[str], None] | None:
        """How to stop, from any thread, the rest of a body that streams; None for a spooled one, which is whole."""
        return getattr(self._stream, "interrupt", None)

    def wait_readable(self, timeout: float) -> bool:
        """Whether a read would return at once within `timeout` seconds, reading nothing (a spooled body: at once)."""
        wait: Callable[[float], bool] | None = getattr(self._stream, "wait_readable", None)
        return True if wait is None else wait(timeout)


class BodyStreamingHandler(PooledThreadsHandler):
    """Django's ASGI handler on pooled request threads, streaming the bodies of requests whose view asks for it
    (see the module docstring)."""

    request_class = StreamingRequest

    def __init__(self, *, urlconf_of: UrlconfOf, high_water: int = HIGH_WATER, idle_timeout: float = 30.0) -> None:
        super().__init__()
        self.urlconf_of, self.high_water, self.idle_timeout = urlconf_of, high_water, idle_timeout

    def streams(self, scope: Scope) -> bool:
        method = str(scope.get("method", "")).upper()
        if method not in BODY_METHODS:
            return False
        path = str(scope["path"]).removeprefix(str(scope.get("root_path", "")))
        urlconf = self.urlconf_of(path)
        if urlconf is None:
            return False
        try:
            match = resolve(path, cast(Any, urlconf))  # a URLconf module works as well as its dotted name
        except Resolver404:
            return False
        wants: Callable[[str, Mapping[str, str]], bool] | None = getattr(
            getattr(match.func, "view_class", None), "streams_request_body", None
        )
        return bool(wants and wants(method, _headers(scope)))

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.streams(scope):
            await super().handle(scope, receive, send)
            return
        socket_body = scope.get("extensions", {}).get(SOCKET_BODY)
        reader = socket_body.claim(self.idle_timeout) if socket_body is not None else None
        if reader is not None:
            await self._handle_from_socket(scope, reader, send)
            return
        body = StreamedBody(loop=asyncio.get_running_loop(), high_water=self.high_water, idle_timeout=self.idle_timeout)
        pump = asyncio.create_task(body.pump(receive))
        try:
            await super().handle(scope, _AfterBody(body), send)
        finally:
            pump.cancel()
            with suppress(asyncio.CancelledError):
                await pump

    async def serve_claimed(self, scope: Scope, reader: ClaimedBody, send: Send) -> None:
        """Serve a request whose body an outer application has claimed from the socket and not read
        (config/data_plane.py hands on what it does not serve itself)."""
        async with self.request_thread():
            await self._handle_from_socket(scope, reader, send)

    async def _handle_from_socket(self, scope: Scope, reader: ClaimedBody, send: Send) -> None:
        try:
            await super().handle(scope, _FromSocket(reader), send)
        finally:  # also when cancelled (a shutdown): the view's thread must not go on reading the socket
            reader.release()

    async def read_body(self, receive: Receive) -> IO[bytes]:
        if isinstance(receive, _AfterBody | _FromSocket):
            return cast(IO[bytes], receive.body)  # read(), readinto() and close() are all it is used for
        return await super().read_body(receive)
