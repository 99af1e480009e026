"""uvicorn's HTTP protocol, able to hand a request body over to the application to read from the socket itself.

Through ASGI, every body byte crosses the event loop: uvicorn parses it, copies it into 64 KiB messages, wakes
the app's task for each, and a worker thread then takes it from there. For a multi-GB upload that machinery, not
the disk, is the limit (tests/benchmarks/files/README.md). With this protocol a request that announces its length
carries the ASGI scope extension `fip.socket_body`; an application that wants the body on a worker thread calls
`claim()` on the event loop before it receives anything and gets a reader whose `read(size)` takes the bytes
straight from the socket (whatever the parser had already buffered first). The event loop stops reading this
connection meanwhile, and once the last byte is read it hands the connection back to the HTTP parser for the
next request. A body the application does not read to its end ends the connection after the response instead
(the parser cannot know where the next request would begin).

Never offered over TLS (the socket holds ciphertext), for chunked bodies, or for a request whose whole body has
already been parsed; an application that does not claim the extension sees plain ASGI.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any, cast

import httptools
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

EXTENSION = "fip.socket_body"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
READ_ALL_BLOCK = 1 << 20


class SocketBodyError(OSError):
    """The body cannot be read to its announced end (Django turns an OSError from a body into UnreadablePostError)."""


class SocketBodyReader:
    """A request body read on one worker thread from our own descriptor of the connection (closing it never closes
    uvicorn's), never past the announced length; `done()` is called once the last byte is read."""

    def __init__(self, sock: socket.socket, prefix: bytes, left: int, done: Callable[[], object]) -> None:
        self._sock: socket.socket | None = sock
        self._prefix, self._left, self._done = prefix, left, done
        self._failure = ""

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes as they arrive (short reads, no copying to fill `size`); b"" once the body is read."""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(READ_ALL_BLOCK), b""))
        if self._prefix:
            block, self._prefix = self._prefix[:size], self._prefix[size:]
            return block
        if self._left == 0 or size == 0:
            return b""
        if self._failure or self._sock is None:
            raise SocketBodyError(self._failure or "The request has finished.")
        try:
            block = self._sock.recv(min(size, self._left))
        except TimeoutError:
            self._failure = f"No bytes of the body arrived for {self._sock.gettimeout():g} s."
        except OSError as exc:
            self._failure = f"The body could not be received ({exc.__class__.__name__})."
        else:
            if not block:
                self._failure = "The client went away before sending the whole body."
        if self._failure:
            self.close()
            raise SocketBodyError(self._failure)
        self._left -= len(block)
        if self._left == 0:
            self.close()
            self._done()
        return block

    def readable(self) -> bool:
        return True

    def close(self) -> None:
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
        """A reader of the rest of the body that gives up after `idle_timeout` seconds without a byte, or None when
        the body cannot be read from the socket (any more): plain ASGI then. After a claim, the request's ASGI
        `receive` delivers no body."""
        protocol, cycle = self._protocol, self._cycle
        current = protocol.cycle is cycle and cycle.more_body and not cycle.disconnected
        left = self._length - protocol.body_parsed
        if self._claimed or not current or left <= 0 or protocol.transport.is_closing():
            return None
        self._claimed = True
        sock = socket.socket(fileno=os.dup(protocol.transport.get_extra_info("socket").fileno()))
        sock.settimeout(idle_timeout)
        protocol.flow.pause_reading()
        cycle.flow = cast(FlowControl, _HeldFlow(protocol.flow))  # receive() must not resume reading
        if cycle.waiting_for_100_continue:
            protocol.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        prefix, cycle.body = bytes(cycle.body), bytearray()
        protocol.socket_body_claimed(cycle)
        loop = protocol.loop
        return SocketBodyReader(sock, prefix, left, lambda: loop.call_soon_threadsafe(protocol.socket_body_done))


class SocketBodyProtocol(HttpToolsProtocol):
    """HttpToolsProtocol offering `fip.socket_body` (see the module docstring)."""

    body_parsed = 0  # body bytes of the current request the parser has seen
    _keep_alive_after = False  # the claimed request's keep-alive, restored once its body is read to the end

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

    def shutdown(self) -> None:
        self._keep_alive_after = False  # a claimed body read to its end must not undo the close asked for here
        super().shutdown()

    def socket_body_claimed(self, cycle: RequestResponseCycle) -> None:
        """Until the body is read to its end, the connection ends with this response."""
        self._keep_alive_after, cycle.keep_alive = cycle.keep_alive, False

    def socket_body_done(self) -> None:
        """The claimed body was read to its end (on the event loop): the next bytes are a new request."""
        if self.parser is None or self.transport.is_closing():
            return
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.cycle.flow = self.flow
        self.cycle.more_body = False
        if not self.cycle.response_started:  # reading resumes when the response is complete, as for any request
            self.cycle.keep_alive = self._keep_alive_after
        self.cycle.message_event.set()
