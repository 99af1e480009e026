"""The ASGI handler that streams a tus PATCH body to the view as it arrives (apps/files/api/asgi.py): which requests
stream, and the body's reads, flow control and failures. The whole path through a real server is in
tests/contract/test_files.py (the files deployable streams every PATCH) and the files benchmark."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.http import UnreadablePostError

from apps.files.api.asgi import BodyStreamingHandler, StreamedBody, StreamingRequest

FILES_URLS = "apps.files.api.urls"


def _scope(method: str, path: str, **headers: str) -> dict[str, Any]:
    encoded = [(name.replace("_", "-").lower().encode(), value.encode()) for name, value in headers.items()]
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": encoded}


def _handler(urlconf: str | None = FILES_URLS) -> BodyStreamingHandler:
    return BodyStreamingHandler(urlconf_of=lambda path: urlconf)


def _messages(*bodies: bytes) -> Callable[[], Any]:
    """An ASGI `receive` giving these body messages, then waiting (as a client that stays connected)."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for index, body in enumerate(bodies):
        queue.put_nowait({"type": "http.request", "body": body, "more_body": index < len(bodies) - 1})
    return queue.get


async def _in_thread(function: Callable[[], Any]) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, function)


def _read_all(body: StreamedBody, size: int = 1 << 20) -> bytes:
    return b"".join(iter(lambda: body.read(size), b""))


# --- which requests stream ---------------------------------------------------------------------------------------


def test_a_tus_patch_streams() -> None:
    assert _handler().streams(_scope("PATCH", "/api/files/uploads/12/"))


def test_a_post_overriding_to_patch_streams_and_other_overrides_do_not() -> None:
    handler = _handler()

    assert handler.streams(_scope("POST", "/api/files/uploads/12/", X_HTTP_Method_Override="patch"))
    assert not handler.streams(_scope("POST", "/api/files/uploads/12/", X_HTTP_Method_Override="DELETE"))


def test_other_requests_keep_the_spooled_body() -> None:
    handler = _handler()

    assert not handler.streams(_scope("POST", "/api/files/uploads/"))  # creation
    assert not handler.streams(_scope("POST", "/api/files/"))  # one-shot upload (multipart form)
    assert not handler.streams(_scope("HEAD", "/api/files/uploads/12/"))
    assert not handler.streams(_scope("PATCH", "/api/files/no-such-thing/"))


def test_nothing_streams_where_the_request_may_be_served_elsewhere() -> None:
    assert not _handler(urlconf=None).streams(_scope("PATCH", "/api/files/uploads/12/"))


# --- the body ------------------------------------------------------------------------------------------------------


async def test_the_reader_gets_every_byte_in_order_in_reads_of_at_most_the_size_asked() -> None:
    body = StreamedBody(loop=asyncio.get_running_loop(), high_water=1 << 20, idle_timeout=5)
    parts = [bytes([n]) * (1000 + n) for n in range(20)]
    pump = asyncio.create_task(body.pump(_messages(*parts)))
    sizes: list[int] = []

    def read() -> bytes:
        got = []
        while block := body.read(700):
            sizes.append(len(block))
            got.append(block)
        return b"".join(got)

    data = await _in_thread(read)
    pump.cancel()

    assert data == b"".join(parts)
    assert max(sizes) == 700


async def test_the_pump_stops_taking_messages_at_the_high_water_mark_until_the_reader_catches_up() -> None:
    body = StreamedBody(loop=asyncio.get_running_loop(), high_water=3000, idle_timeout=5)
    taken: list[int] = []
    source = _messages(*[b"x" * 1000] * 10)

    async def receive() -> Any:
        message = await source()
        taken.append(len(message["body"]))
        return message

    pump = asyncio.create_task(body.pump(receive))
    await asyncio.sleep(0.05)
    before_reading = len(taken)
    data = await _in_thread(lambda: _read_all(body))
    pump.cancel()

    assert before_reading == 3
    assert (len(taken), data) == (10, b"x" * 10_000)


async def test_a_client_going_away_mid_body_makes_the_read_fail() -> None:
    body = StreamedBody(loop=asyncio.get_running_loop(), high_water=1 << 20, idle_timeout=5)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    queue.put_nowait({"type": "http.request", "body": b"abc", "more_body": True})
    queue.put_nowait({"type": "http.disconnect"})
    pump = asyncio.create_task(body.pump(queue.get))

    first = await _in_thread(lambda: body.read(10))
    with pytest.raises(UnreadablePostError, match="went away"):
        await _in_thread(lambda: body.read(10))
    await pump

    assert first == b"abc"
    assert body.disconnected.is_set()


async def test_a_body_that_stalls_fails_after_the_idle_timeout() -> None:
    body = StreamedBody(loop=asyncio.get_running_loop(), high_water=1 << 20, idle_timeout=0.2)
    never: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    pump = asyncio.create_task(body.pump(lambda: never))

    with pytest.raises(UnreadablePostError, match=r"No bytes of the body arrived for 0\.2 s"):
        await _in_thread(lambda: body.read(10))
    pump.cancel()


async def test_the_event_loop_may_not_read_a_streamed_body() -> None:
    body = StreamedBody(loop=asyncio.get_running_loop(), high_water=1 << 20, idle_timeout=5)

    with pytest.raises(UnreadablePostError, match="event loop"):
        body.read(10)


async def test_a_reader_waiting_when_the_request_ends_is_woken_with_an_error() -> None:
    body = StreamedBody(loop=asyncio.get_running_loop(), high_water=1 << 20, idle_timeout=30)
    waiting = threading.Event()

    def read() -> bytes:
        waiting.set()
        return body.read(10)

    reader = asyncio.ensure_future(_in_thread(read))
    await _in_thread(waiting.wait)
    body.close()

    with pytest.raises(UnreadablePostError, match="finished"):
        await asyncio.wait_for(reader, timeout=5)


async def test_wait_readable_says_whether_bytes_came_in_time_and_reads_none_of_them() -> None:
    body = StreamedBody(loop=asyncio.get_running_loop(), high_water=1 << 20, idle_timeout=30)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    pump = asyncio.create_task(body.pump(queue.get))

    nothing_yet = await _in_thread(lambda: body.wait_readable(0.1))
    queue.put_nowait({"type": "http.request", "body": b"abc", "more_body": False})
    arrived = await _in_thread(lambda: body.wait_readable(5))
    data = await _in_thread(lambda: _read_all(body))
    ended = await _in_thread(lambda: body.wait_readable(5))
    pump.cancel()

    assert (nothing_yet, arrived, data, ended) == (False, True, b"abc", True)


def test_a_spooled_body_is_readable_at_once() -> None:
    scope = {**_scope("PATCH", "/api/files/uploads/1/"), "query_string": b""}
    request = StreamingRequest(scope, io.BytesIO(b"abc"))

    assert request.wait_readable(5) is True
    assert request.read() == b"abc"


async def test_an_interrupted_reader_fails_at_once_though_bytes_wait_for_it() -> None:
    body = StreamedBody(loop=asyncio.get_running_loop(), high_water=1 << 20, idle_timeout=30)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    queue.put_nowait({"type": "http.request", "body": b"abc", "more_body": True})
    pump = asyncio.create_task(body.pump(queue.get))
    await asyncio.sleep(0.05)  # "abc" waits in the buffer

    body.interrupt("taken over")
    queue.put_nowait({"type": "http.request", "body": b"def", "more_body": True})
    with pytest.raises(UnreadablePostError, match="taken over"):
        await _in_thread(lambda: body.read(10))
    ready = await _in_thread(lambda: body.wait_readable(5))
    pump.cancel()

    assert ready is True  # a read would return at once: with its failure
