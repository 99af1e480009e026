"""uvicorn's HTTP protocol, able to hand a request body over to the application to read from the socket itself.

Through ASGI, every body byte crosses the event loop: uvicorn parses it, copies it into 64 KiB messages, wakes the
app's task for each, and a worker thread then takes it from there. For a multi-GB upload that machinery, not the
disk, is the limit (tests/benchmarks/files/README.md). With this protocol a request that announces its length
carries the ASGI scope extension `fip.socket_body`; an application that wants the body on a worker thread calls
`claim()` on the event loop before it receives anything and gets a reader whose `read(size)` (or `readinto`) takes
the bytes straight from the socket (whatever the parser had already buffered first). The event loop stops reading
this connection meanwhile, and once the last byte is read it hands the connection back to a fresh HTTP parser for
the next request. A body the application answers without reading to its end (a refusal) is read and thrown away on
the event loop after the response, as uvicorn does for any request, so the client sees the answer and the
connection stays usable; one whose reading failed (the client went silent) ends the connection with the response.
When the request ends while its worker thread still waits for bytes (the server shutting down), the wait is broken
off: the body is not read on behind the request's back.

Never offered over TLS (the socket holds ciphertext), for chunked bodies, or for a request whose whole body has
already been parsed; an application that does not claim the extension sees plain ASGI.
"""

from __future__ import annotations

import os
import select
import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar, cast

import httptools
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

EXTENSION = "fip.socket_body"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
READ_ALL_BLOCK = 1 << 20
FINISHED = "The request has finished."
T = TypeVar("T", bytes, int)


class SocketBodyError(OSError):
    """The body cannot be read to its announced end (Django turns an OSError from a body into UnreadablePostError)."""


class SocketBodyReader:
    """A request body read on one worker thread from our own descriptor of the connection (closing it never closes
    uvicorn's), never past the announced length. The protocol is told on the event loop when the last byte is read
    (`done`) or reading failed (`failed`); `release()` ends the reader from the event loop."""

    def __init__(
        self,
        sock: socket.socket,
        prefix: bytes,
        left: int,
        *,
        done: Callable[[], object],
        failed: Callable[[], object],
        loop_thread: int | None = None,
    ) -> None:
        self._sock: socket.socket | None = sock
        self._loop_thread = loop_thread  # the event loop's thread, which must never wait for the socket
        self._prefix, self._left = prefix, left
        self._done, self._failed = done, failed
        self._lock = threading.Lock()  # between the reading thread and release() on the event loop
        self._reading = False  # a thread is in recv() or wait_readable()
        self._failure = ""
        self._poller: select.poll | None = None  # made by the first wait_readable()

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes as they arrive (short reads, no copying to fill `size`); b"" once the body is read."""
        self._off_the_loop()
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(READ_ALL_BLOCK), b""))
        if self._prefix:
            block, self._prefix = self._prefix[:size], self._prefix[size:]
            return block
        if self._left == 0 or size == 0:
            return b""
        return self._receive(lambda sock, limit: sock.recv(limit), size, len)

    def readinto(self, buffer: memoryview) -> int:
        """As `read`, into `buffer` (no bytes object per block: the tus PATCH fills reused receive buffers)."""
        self._off_the_loop()
        if self._prefix:
            taken = min(len(buffer), len(self._prefix))
            buffer[:taken], self._prefix = self._prefix[:taken], self._prefix[taken:]
            return taken
        if self._left == 0 or not len(buffer):
            return 0
        return self._receive(lambda sock, limit: sock.recv_into(buffer, limit), len(buffer), int)

    def wait_readable(self, timeout: float) -> bool:
        """Whether a read would return at once within `timeout` seconds (bytes have arrived, or the body has ended or
        failed), reading nothing: a caller holding something it should give back when the client stalls waits here
        rather than in a read, which waits up to the idle timeout."""
        self._off_the_loop()
        with self._lock:
            if self._prefix or self._left == 0 or self._sock is None:
                return True
            sock, self._reading = self._sock, True  # release() meanwhile shuts the socket down, which wakes the poll
        try:
            if self._poller is None:
                self._poller = select.poll()
                self._poller.register(sock, select.POLLIN)
            ready = bool(self._poller.poll(max(0.0, timeout) * 1000))  # milliseconds, rounded up
        except OSError:
            ready = True  # the read that follows reports it
        finally:
            with self._lock:
                self._reading = False
                failed = bool(self._failure)
                if failed:  # released or interrupted while polling: the descriptor is ours to close, as after a recv
                    self._close()
        if failed:
            self._failed()
            return True
        return ready

    def _receive(self, recv: Callable[[socket.socket, int], T], size: int, count: Callable[[T], int]) -> T:
        """One `recv` of at most `size` bytes (never past the body), with the failures and hand-overs it may cause."""
        with self._lock:
            if self._sock is None:
                raise SocketBodyError(self._failure or FINISHED)
            sock, self._reading = self._sock, True
        received: T | None = None
        try:
            received = recv(sock, min(size, self._left))
        except TimeoutError:
            failure = f"No bytes of the body arrived for {sock.gettimeout():g} s."
        except OSError as exc:
            failure = f"The body could not be received ({exc.__class__.__name__})."
        else:
            failure = "" if count(received) else "The client went away before sending the whole body."
        with self._lock:
            self._reading = False
            failure = self._failure or failure  # released meanwhile: whatever recv returned is not the body's
            if not failure:
                self._left -= count(cast(T, received))
            if failure or self._left == 0:
                self._failure = failure
                self._close()
        if failure:
            self._failed()
            raise SocketBodyError(failure)
        if self._left == 0:
            self._done()
        return cast(T, received)

    def _off_the_loop(self) -> None:
        if self._loop_thread == threading.get_ident():  # e.g. a handed-on body the gateway's proxy would read
            raise SocketBodyError("This body is read from the socket on a worker thread; the event loop cannot wait.")

    def interrupt(self, reason: str) -> None:
        """From any thread: the rest of the body is no longer wanted (a newer request took over its work). A read
        waiting now, or made later, fails with `reason`, and the connection ends with this request's response."""
        with self._lock:
            if self._sock is None or self._failure:
                return
            self._failure = reason
            if self._reading:
                with suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RD)  # wakes the waiting thread, which closes the descriptor
                return
            self._close()
        self._failed()

    def release(self) -> int | None:
        """On the event loop, once the request no longer needs its body: the body bytes still unread in the
        socket, or None when the connection cannot carry another request (reading failed, or a thread is still
        waiting in recv() or wait_readable(): that wait is broken off, and a read then fails)."""
        with self._lock:
            if self._reading and self._sock is not None:
                self._failure = FINISHED
                with suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RD)  # wakes the waiting thread, which closes the descriptor
                return None
            failed = bool(self._failure)
            self._failure = self._failure or FINISHED
            self._close()
            return None if failed else self._left

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        with self._lock:
            if not self._reading:
                self._close()

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class _HeldFlow:
    """A cycle's flow control while its body is read from the socket: reading stays paused whoever asks (uvicorn's
    receive() resumes it); everything else is the connection's own flow control."""

    def __init__(self, flow: FlowControl) -> None:
        self._flow = flow

    def __getattr__(self, name: str) -> Any:
        return getattr(self._flow, name)

    def resume_reading(self) -> None:
        pass


class SocketBody:
    """The `fip.socket_body` extension of one request: `claim(idle_timeout)` on the event loop, before any receive."""

    def __init__(self, protocol: SocketBodyProtocol, cycle: RequestResponseCycle, length: int) -> None:
        self._protocol, self._cycle, self._length = protocol, cycle, length
        self._claimed = False

    def claim(self, idle_timeout: float) -> SocketBodyReader | None:
        """A reader of the rest of the body that gives up after `idle_timeout` (> 0) seconds without a byte, or None
        when the body cannot be read from the socket (any more): plain ASGI then. After a claim, the request's ASGI
        `receive` delivers no body."""
        if not idle_timeout > 0:
            raise ValueError(f"idle_timeout must be a positive number of seconds, not {idle_timeout!r}")
        protocol, cycle = self._protocol, self._cycle
        current = protocol.cycle is cycle and cycle.more_body and not cycle.disconnected
        left = self._length - protocol.body_parsed
        if self._claimed or not current or left <= 0 or protocol.transport.is_closing():
            return None
        try:
            sock = socket.socket(fileno=os.dup(protocol.transport.get_extra_info("socket").fileno()))
        except OSError:  # out of descriptors: plain ASGI still works
            return None
        self._claimed = True
        sock.settimeout(idle_timeout)
        protocol.flow.pause_reading()
        cycle.flow = cast(FlowControl, _HeldFlow(protocol.flow))  # receive() must not resume reading
        if cycle.waiting_for_100_continue:
            protocol.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        prefix, cycle.body = bytes(cycle.body), bytearray()
        reader = SocketBodyReader(
            sock,
            prefix,
            left,
            done=lambda: protocol.soon(protocol.socket_body_done),
            failed=lambda: protocol.soon(protocol.socket_body_failed),
            loop_thread=threading.get_ident(),  # claimed on the event loop
        )
        protocol.reader = reader
        return reader


class SocketBodyProtocol(HttpToolsProtocol):
    """HttpToolsProtocol offering `fip.socket_body` (see the module docstring)."""

    body_parsed = 0  # body bytes of the current request the parser has seen
    reader: SocketBodyReader | None = None  # the claimed body being read, until it is read or released
    _discard = 0  # bytes of a released body still to come and be thrown away before the next request

    def on_headers_complete(self) -> None:
        self.body_parsed = 0
        super().on_headers_complete()
        length = self._announced_length()
        if length is not None and self.cycle is not None and self.cycle.scope is self.scope:
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions[EXTENSION] = SocketBody(self, self.cycle, length)

    def _announced_length(self) -> int | None:
        if self.scheme != "http" or self.scope.get("method") not in BODY_METHODS:
            return None
        lengths = [value for name, value in self.headers if name == b"content-length"]
        chunked = any(name == b"transfer-encoding" for name, _ in self.headers)
        if chunked or len(lengths) != 1 or not lengths[0].isdigit():
            return None
        return int(lengths[0])

    def on_body(self, body: bytes) -> None:
        self.body_parsed += len(body)
        super().on_body(body)

    def data_received(self, data: bytes) -> None:
        if self._discard:  # the rest of a body answered without being read
            taken = min(self._discard, len(data))
            self._discard -= taken
            data = data[taken:]
            if not data:
                self._unset_keepalive_if_required()
                return
        super().data_received(data)

    def soon(self, callback: Callable[[], object]) -> None:
        """`callback` on the event loop, from the reading thread; nothing when the loop has closed meanwhile."""
        with suppress(RuntimeError):
            self.loop.call_soon_threadsafe(callback)

    def socket_body_done(self) -> None:
        """The claimed body was read to its end (on the event loop): the next bytes are a new request."""
        self.reader = None
        if self.parser is None or self.transport.is_closing():
            return
        self._parser_renew()
        self.cycle.flow = self.flow
        self.cycle.more_body = False
        self.cycle.message_event.set()

    def socket_body_failed(self) -> None:
        """Reading the claimed body failed: where the next request would begin is unknown, so the connection ends
        with this response."""
        if self.cycle is not None and not self.cycle.response_started:
            self.cycle.keep_alive = False

    def on_response_complete(self) -> None:
        reader, self.reader = self.reader, None
        if reader is not None and not self.transport.is_closing():
            self.cycle.flow = self.flow
            unread = reader.release()
            if unread is None:
                self.transport.close()
            elif unread:
                self._discard = unread
                self._parser_renew()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.reader is not None:
            self.reader.release()  # a thread waiting for bytes of this connection stops waiting
        super().connection_lost(exc)

    def _parser_renew(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
