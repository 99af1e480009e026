"""uvicorn's HTTP protocol handing a request body to the application to read from the socket (config/socket_body.py),
through a real uvicorn server on loopback and raw sockets, so keep-alive, pipelining and partial sends are the
client's to control. The app claims the body when offered, reads it on a worker thread and answers what it saw
(how many bytes, their sha256, or the read's failure); apps/files/api/asgi.py is the production user."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import queue
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from unittest.mock import ANY
from urllib.parse import parse_qsl

import pytest
import uvicorn

from config.socket_body import EXTENSION, SocketBodyError, SocketBodyProtocol, SocketBodyReader
from tests.servers import free_port

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Reading = Callable[[SocketBodyReader], Message]
READ_SIZE = 1 << 20
MiB = 1 << 20


# --- the server and its app ----------------------------------------------------------------------------------------


@dataclass
class Served:
    """A running server, with what its app saw: each request's outcome once answered, and each claim as it happens."""

    port: int
    server: uvicorn.Server
    outcomes: queue.Queue[Message]
    claims: queue.Queue[str]

    def outcome(self) -> Message:
        return self.outcomes.get(timeout=5)


def _digest(reader: SocketBodyReader) -> Message:
    """The body as the app reads it on a worker thread: its length, sha256 and first block, or why it failed."""
    sha, length, first = hashlib.sha256(), 0, None
    try:
        while block := reader.read(READ_SIZE):
            first = len(block) if first is None else first
            sha.update(block)
            length += len(block)
    except SocketBodyError as exc:
        return {"error": str(exc), "length": length}
    return {"length": length, "sha256": sha.hexdigest(), "first_read": first}


def _digest_into(reader: SocketBodyReader) -> Message:
    """As `_digest`, reading with readinto into one reused buffer."""
    sha, length, first, buffer = hashlib.sha256(), 0, None, memoryview(bytearray(READ_SIZE))
    try:
        while got := reader.readinto(buffer):
            first = got if first is None else first
            sha.update(buffer[:got])
            length += got
    except SocketBodyError as exc:
        return {"error": str(exc), "length": length}
    return {"length": length, "sha256": sha.hexdigest(), "first_read": first}


def _timed(read: Callable[[SocketBodyReader], Message], reader: SocketBodyReader) -> Message:
    started = time.monotonic()
    return {**read(reader), "seconds": time.monotonic() - started}


def _waiting_first(seconds: float, read: Reading) -> Reading:
    """`read`, after waiting up to `seconds` for bytes with wait_readable: whether they came, and how long it took."""

    def waited(reader: SocketBodyReader) -> Message:
        started = time.monotonic()
        ready = reader.wait_readable(seconds)
        return {"ready": ready, "waited": time.monotonic() - started, **read(reader)}

    return waited


async def _received(receive: Receive) -> bytes:
    """The body through plain ASGI."""
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


def _app(
    outcomes: queue.Queue[Message], claims: queue.Queue[str]
) -> Callable[[Message, Receive, Send], Awaitable[None]]:
    """Claims the body when offered (after `?wait=` seconds, with `?idle=` as idle timeout) and reads it on a thread;
    /refuse claims and answers 413 without reading; /onloop reads on the event loop (which is refused); /abandon
    answers while its thread still reads; `?listen=1` also awaits receive() while the thread reads; `?into=1` reads
    with readinto; `?waits=` waits that long for bytes with wait_readable before reading; `?interrupt=` interrupts
    the reader after that many seconds."""

    async def app(scope: Message, receive: Receive, send: Send) -> None:
        query = dict(parse_qsl(scope["query_string"].decode()))
        socket_body = scope.get("extensions", {}).get(EXTENSION)
        outcome: Message = {"method": scope["method"], "offered": socket_body is not None}
        status, reader, abandoned = 200, None, None
        read: Reading = _digest_into if query.get("into") else _digest
        if "waits" in query:
            read = _waiting_first(float(query["waits"]), read)
        try:
            await asyncio.sleep(float(query.get("wait", 0)))
            reader = socket_body.claim(float(query.get("idle", 5))) if socket_body is not None else None
            outcome["claimed"] = reader is not None
            if reader is None:
                body = await _received(receive)
                outcome.update(length=len(body), sha256=hashlib.sha256(body).hexdigest())
            elif scope["path"] == "/refuse":
                claims.put(scope["path"])
                status = 413
            elif scope["path"] == "/onloop":  # a read on the event loop's thread itself
                try:
                    reader.read(1024)
                except SocketBodyError as exc:
                    outcome["error"] = str(exc)
                status = 400
            elif scope["path"] == "/abandon":  # answers while its thread still waits for the body
                claims.put(scope["path"])
                abandoned = asyncio.ensure_future(asyncio.to_thread(_timed, read, reader))
                await asyncio.sleep(0.3)
                status = 202
            else:
                claims.put(scope["path"])
                if socket_body.claim(5.0) is not None:  # one reader per body: no expected outcome has this key
                    outcome["claimed_twice"] = True
                listener = asyncio.ensure_future(receive()) if query.get("listen") else None
                if "interrupt" in query:
                    asyncio.get_running_loop().call_later(float(query["interrupt"]), reader.interrupt, "taken over")
                outcome.update(await asyncio.to_thread(read, reader))
                if listener is not None:
                    message = await asyncio.wait_for(listener, timeout=5)
                    outcome["received"] = [message["type"], len(message.get("body", b""))]
                status = 400 if "error" in outcome else 200
            payload = json.dumps(outcome).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
        finally:
            if reader is not None:
                reader.close()  # as Django closes the request's body once the response is sent ...
                reader.release()  # ... and apps/files/api/asgi.py releases it, even when cancelled
            if abandoned is not None:
                outcome.update(await abandoned)
            outcomes.put(outcome)

    return app


@pytest.fixture
def served() -> Iterator[Served]:
    outcomes: queue.Queue[Message] = queue.Queue()
    claims: queue.Queue[str] = queue.Queue()
    port = free_port()
    config = uvicorn.Config(
        _app(outcomes, claims),
        host="127.0.0.1",
        port=port,
        http=SocketBodyProtocol,
        lifespan="off",
        log_level="warning",
        log_config=None,  # leave the test session's logging alone
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    yield Served(port=port, server=server, outcomes=outcomes, claims=claims)
    server.should_exit = True
    thread.join(timeout=10)
    assert not thread.is_alive(), "the server did not stop"


# --- the client ----------------------------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _connect(served: Served) -> socket.socket:
    return socket.create_connection(("127.0.0.1", served.port), timeout=10)


def _head(method: str, target: str, length: int | None = None, *extra: str) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: test", *extra]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _response(stream: BinaryIO) -> Response:
    """One response with a Content-Length, read from the connection's stream (which may hold the next ones)."""
    status_line = stream.readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(int(status_line.split()[1]), headers, stream.read(int(headers["content-length"])))


def _send_in_pieces(sock: socket.socket, body: bytes, piece: int = MiB) -> None:
    for offset in range(0, len(body), piece):
        sock.sendall(body[offset : offset + piece])


def _wait_until_refused(served: Served) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", served.port), timeout=1).close()
        except ConnectionRefusedError:
            return
        time.sleep(0.02)
    raise AssertionError("the server kept accepting connections")


def _seen(body: bytes) -> Message:
    return {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}


# --- bodies read from the socket -----------------------------------------------------------------------------------


def test_a_large_claimed_body_arrives_whole_and_the_connection_serves_the_next_requests(served: Served) -> None:
    """The reader stops at the announced length and the parser takes over again: the same keep-alive connection
    then carries another claimed body and a GET."""
    first, second = os.urandom(20 * MiB), os.urandom(2 * MiB)

    with _connect(served) as sock, sock.makefile("rb") as stream:
        sock.sendall(_head("PUT", "/upload", len(first)))
        _send_in_pieces(sock, first)
        first_response = _response(stream)
        sock.sendall(_head("PATCH", "/upload", len(second)))
        _send_in_pieces(sock, second, piece=256 * 1024)
        second_response = _response(stream)
        sock.sendall(_head("GET", "/after"))
        third_response = _response(stream)

    for method, response, body in (("PUT", first_response, first), ("PATCH", second_response, second)):
        assert response.status == 200
        assert response.json() == {"method": method, "offered": True, "claimed": True, "first_read": ANY, **_seen(body)}
        assert "connection" not in response.headers
    assert third_response.json() == {"method": "GET", "offered": False, "claimed": False, **_seen(b"")}


def test_a_request_pipelined_right_behind_a_claimed_body_is_parsed_as_the_next_request(served: Served) -> None:
    """The end of the body and the next request leave the client in one write: the reader never reads past the
    body, so the bytes after it reach the new parser."""
    body = os.urandom(3 * MiB)

    with _connect(served) as sock, sock.makefile("rb") as stream:
        sock.sendall(_head("POST", "/upload", len(body)) + body[:MiB])
        sock.sendall(body[MiB:] + _head("POST", "/next", 5) + b"hello" + _head("GET", "/last"))
        responses = [_response(stream) for _ in range(3)]

    assert responses[0].json() == {"method": "POST", "offered": True, "claimed": True, "first_read": ANY, **_seen(body)}
    assert [response.json()["method"] for response in responses[1:]] == ["POST", "GET"]
    assert responses[1].json()["sha256"] == hashlib.sha256(b"hello").hexdigest()
    assert all("connection" not in response.headers for response in responses)


def test_the_bytes_parsed_before_the_claim_come_first_and_the_rest_from_the_socket(served: Served) -> None:
    """The headers and the start of the body arrive together, so the parser has buffered that start (the prefix)
    when the app claims; the reader gives it before reading the socket."""
    body = os.urandom(MiB)

    with _connect(served) as sock, sock.makefile("rb") as stream:
        sock.sendall(_head("POST", "/upload", len(body)) + body[:1000])
        served.claims.get(timeout=5)
        sock.sendall(body[1000:])
        response = _response(stream)

    assert response.json() == {"method": "POST", "offered": True, "claimed": True, "first_read": 1000, **_seen(body)}


def test_readinto_gives_the_prefix_then_the_socket_and_never_reads_past_the_body(served: Served) -> None:
    """The same body through readinto: the buffered start first, then the socket, stopping at the announced length
    so the next request on the connection is parsed."""
    body = os.urandom(3 * MiB + 5)

    with _connect(served) as sock, sock.makefile("rb") as stream:
        sock.sendall(_head("PATCH", "/upload?into=1", len(body)) + body[:1000])
        served.claims.get(timeout=5)
        _send_in_pieces(sock, body[1000:], piece=256 * 1024)
        sock.sendall(_head("GET", "/after"))
        responses = [_response(stream) for _ in range(2)]

    expected = {"method": "PATCH", "offered": True, "claimed": True, "first_read": 1000, **_seen(body)}
    assert responses[0].json() == expected
    assert responses[1].json()["method"] == "GET"


def test_expect_100_continue_is_answered_by_the_claim_and_the_body_then_arrives(served: Served) -> None:
    """A client waiting for 100 Continue sends nothing until the claim lets it."""
    body = os.urandom(MiB)

    with _connect(served) as sock, sock.makefile("rb") as stream:
        sock.sendall(_head("PUT", "/upload", len(body), "Expect: 100-continue"))
        interim = stream.readline() + stream.readline()
        sock.sendall(body)
        response = _response(stream)

    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert response.json() == {"method": "PUT", "offered": True, "claimed": True, "first_read": ANY, **_seen(body)}
    assert "connection" not in response.headers


# --- bodies not read to their end ----------------------------------------------------------------------------------


def test_an_answer_without_reading_the_claimed_body_reaches_the_client_and_the_connection_serves_on(
    served: Served,
) -> None:
    """A refusal (a tus 409 or 401) must reach a client that is still sending: the unread rest of the body is
    thrown away after the response, instead of the connection being cut with the bytes unread (a reset, in which
    the client never sees the status), and the next request on the connection is answered."""
    body = os.urandom(24 * MiB)
    with _connect(served) as sock, sock.makefile("rb") as stream:
        sock.sendall(_head("POST", "/refuse", len(body)))
        _send_in_pieces(sock, body)  # blocks until the server has taken it all, after answering
        refused = _response(stream)
        sock.sendall(_head("GET", "/after"))
        after = _response(stream)

    assert (refused.status, refused.json()) == (413, {"method": "POST", "offered": True, "claimed": True})
    assert "connection" not in refused.headers
    assert after.json() == {"method": "GET", "offered": False, "claimed": False, **_seen(b"")}


def test_the_event_loop_may_not_read_a_claimed_body_and_the_connection_serves_on(served: Served) -> None:
    """A body handed on to asynchronous code (the gateway's proxy reads bodies on the loop) must not block the
    event loop in recv() for the idle timeout: the read is refused at once, and the unread body thrown away."""
    body = os.urandom(4 * MiB)
    with _connect(served) as sock, sock.makefile("rb") as stream:
        sock.sendall(_head("POST", "/onloop", len(body)))
        _send_in_pieces(sock, body)
        refused = _response(stream)
        sock.sendall(_head("GET", "/after"))
        after = _response(stream)

    assert refused.status == 400
    assert (
        refused.json()["error"] == "This body is read from the socket on a worker thread; the event loop cannot wait."
    )
    assert after.json() == {"method": "GET", "offered": False, "claimed": False, **_seen(b"")}


def test_a_read_still_waiting_when_the_request_ends_is_broken_off_and_its_descriptor_closed(served: Served) -> None:
    """Django does not wait for a view's thread when a request is cancelled (a server shutting down); releasing
    the reader must wake a thread waiting in recv() at once, not after the idle timeout, and close our descriptor
    of the connection."""
    descriptors = len(os.listdir("/proc/self/fd"))
    with _connect(served) as sock, sock.makefile("rb") as stream:
        sock.sendall(_head("POST", "/abandon?idle=30", MiB) + b"x" * 1000)
        response = _response(stream)
        abandoned = served.outcome()

    assert response.status == 202
    assert abandoned["error"] == "The request has finished."
    assert abandoned["seconds"] < 5
    assert len(os.listdir("/proc/self/fd")) <= descriptors


def test_wait_readable_ends_when_bytes_arrive_or_when_its_time_is_up_and_reads_nothing(served: Served) -> None:
    """A caller can wait for the next bytes with a timeout of its own, shorter than the idle timeout, and read on."""
    body = os.urandom(MiB)
    outcomes = []

    for waits in ("0.2", "5"):
        with _connect(served) as sock, sock.makefile("rb") as stream:
            sock.sendall(_head("PATCH", f"/upload?waits={waits}", len(body)))
            served.claims.get(timeout=5)
            time.sleep(0.5)  # nothing of the body yet: a wait of 0.2 s ends without it, one of 5 s is still waiting
            sock.sendall(body)
            outcomes.append(_response(stream).json())

    assert [outcome["ready"] for outcome in outcomes] == [False, True]
    assert 0.2 <= outcomes[0]["waited"] < 0.45 and 0.3 < outcomes[1]["waited"] < 5
    assert [outcome["sha256"] for outcome in outcomes] == [hashlib.sha256(body).hexdigest()] * 2


def test_a_wait_for_bytes_when_the_request_ends_is_broken_off_and_its_descriptor_closed(served: Served) -> None:
    descriptors = len(os.listdir("/proc/self/fd"))
    with _connect(served) as sock, sock.makefile("rb") as stream:
        sock.sendall(_head("POST", "/abandon?idle=30&waits=30", MiB))
        response = _response(stream)
        abandoned = served.outcome()

    assert response.status == 202
    assert (abandoned["ready"], abandoned["error"]) == (True, "The request has finished.")
    assert abandoned["seconds"] < 5
    assert len(os.listdir("/proc/self/fd")) <= descriptors


def test_an_interrupted_read_fails_with_the_reason_given_and_the_connection_ends(served: Served) -> None:
    """Another thread can stop a read that waits for a body that is not coming (a newer request took over)."""
    with _connect(served) as sock, sock.makefile("rb") as stream:
        started = time.monotonic()
        sock.sendall(_head("PATCH", "/upload?interrupt=0.2&idle=30", MiB) + b"x" * 1000)
        response = _response(stream)
        after = stream.read()

    assert response.status == 400
    assert (response.json()["error"], response.json()["length"]) == ("taken over", 1000)
    assert response.headers["connection"] == "close"
    assert after == b""
    assert time.monotonic() - started < 5


def test_a_client_going_away_mid_body_fails_the_read_and_the_server_serves_on(served: Served) -> None:
    """The reader sees the end of the stream before the announced length: the app learns why (the client gets no
    answer), and the server is none the worse for it."""
    body = os.urandom(2 * MiB)

    with _connect(served) as sock:
        sock.sendall(_head("POST", "/upload", len(body)) + body[:MiB])
        served.claims.get(timeout=5)
    outcome = served.outcome()
    with _connect(served) as sock, sock.makefile("rb") as stream:
        sock.sendall(_head("GET", "/after"))
        after = _response(stream)

    assert outcome == {
        "method": "POST",
        "offered": True,
        "claimed": True,
        "error": "The client went away before sending the whole body.",
        "length": MiB,
    }
    assert (after.status, after.json()["method"]) == (200, "GET")


def test_a_body_that_stops_arriving_fails_the_read_after_the_idle_timeout(served: Served) -> None:
    """A client that stays connected but sends nothing more cannot hold a worker thread beyond the idle timeout."""
    body = os.urandom(MiB)

    with _connect(served) as sock, sock.makefile("rb") as stream:
        started = time.monotonic()
        sock.sendall(_head("POST", "/upload?idle=0.5", len(body)) + body[:1000])
        response = _response(stream)
        waited = time.monotonic() - started
        after = stream.read()

    assert response.status == 400
    assert response.json()["error"] == "No bytes of the body arrived for 0.5 s."
    assert response.headers["connection"] == "close"
    assert after == b""
    assert 0.5 <= waited < 3


# --- requests the extension is not for -----------------------------------------------------------------------------


def test_a_get_and_a_chunked_body_are_not_offered_and_keep_plain_asgi(served: Served) -> None:
    """Only a body of announced length can be read from the socket up to its end."""
    chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"

    with _connect(served) as sock, sock.makefile("rb") as stream:
        sock.sendall(_head("GET", "/"))
        get = _response(stream)
        sock.sendall(_head("POST", "/upload", None, "Transfer-Encoding: chunked") + chunked)
        post = _response(stream)

    assert get.json() == {"method": "GET", "offered": False, "claimed": False, **_seen(b"")}
    assert post.json() == {"method": "POST", "offered": False, "claimed": False, **_seen(b"hello world")}


def test_a_body_already_parsed_when_the_app_claims_is_not_handed_over_and_receive_delivers_it(served: Served) -> None:
    """A small body arrives with its headers; by the time the app claims, the parser has it all: nothing is left
    to read from the socket, so claim() answers None and the body comes through receive() as usual."""
    body = os.urandom(100)

    with _connect(served) as sock, sock.makefile("rb") as stream:
        sock.sendall(_head("POST", "/upload?wait=0.05", len(body)) + body)
        response = _response(stream)
        sock.sendall(_head("GET", "/after"))
        after = _response(stream)

    assert response.json() == {"method": "POST", "offered": True, "claimed": False, **_seen(body)}
    assert "connection" not in response.headers
    assert after.json()["method"] == "GET"


# --- receive() after a claim ---------------------------------------------------------------------------------------


def test_receive_awaited_while_the_claimed_body_is_read_takes_none_of_it(served: Served) -> None:
    """claim() promises that receive delivers no body afterwards; an app listening for a disconnect (as Django's
    handler does) must not take body bytes away from the reader."""
    body = os.urandom(4 * MiB)

    with _connect(served) as sock, sock.makefile("rb") as stream:
        sock.sendall(_head("POST", "/upload?listen=1&idle=1", len(body)))
        served.claims.get(timeout=5)
        time.sleep(0.05)  # receive() is waiting when the body arrives
        _send_in_pieces(sock, body, piece=64 * 1024)
        response = _response(stream)

    assert response.json() == {
        "method": "POST",
        "offered": True,
        "claimed": True,
        "first_read": ANY,
        "received": ["http.request", 0],
        **_seen(body),
    }


# --- shutting down -------------------------------------------------------------------------------------------------


def test_a_claimed_body_read_while_the_server_shuts_down_ends_its_connection_after_the_response(
    served: Served,
) -> None:
    """A graceful shutdown asks every connection to close after its current response; reading the claimed body to
    its end must not bring keep-alive back, or the server waits for the client to hang up."""
    body = os.urandom(MiB)

    with _connect(served) as sock, sock.makefile("rb") as stream:
        sock.sendall(_head("POST", "/upload", len(body)) + body[:1000])
        served.claims.get(timeout=5)
        served.server.should_exit = True
        _wait_until_refused(served)  # the listener is closed, and every connection has been asked to shut down
        sock.sendall(body[1000:])
        response = _response(stream)
        sock.settimeout(1)
        after = stream.read()

    assert response.json() == {"method": "POST", "offered": True, "claimed": True, "first_read": 1000, **_seen(body)}
    assert response.headers.get("connection") == "close"
    assert after == b""
