"""When the data plane stands in front of Django's handler (config/data_plane.py), and when it stays out."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import pytest
from asgiref.sync import markcoroutinefunction
from django.core.signals import request_finished, request_started
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import path
from django.views import View

from apps.files.api.asgi import SOCKET_BODY, BodyStreamingHandler
from config.data_plane import REQUESTS, DataPlane, data_plane


class AsyncOnlyMiddleware:
    """A middleware the plane's synchronous core could not run."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponse]]) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        return await self.get_response(request)


def _django() -> BodyStreamingHandler:
    return BodyStreamingHandler(urlconf_of=lambda _: None)


def test_the_plane_stands_in_front_of_django_by_default() -> None:
    django = _django()
    plane = data_plane(django)
    assert isinstance(plane, DataPlane) and plane.django is django


def test_the_plane_stays_out_when_switched_off(settings: Any) -> None:
    settings.DATA_PLANE = False
    django = _django()
    assert data_plane(django) is django


def test_the_plane_stays_out_and_says_why_when_a_middleware_cannot_run_synchronously(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # given a middleware that only runs asynchronously, besides the gateway's
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.AsyncOnlyMiddleware"]
    django = _django()
    # when the application is composed
    with caplog.at_level(logging.WARNING, logger="config.data_plane"):
        served_by = data_plane(django)
    # then Django's handler serves everything, and the log names the middleware
    assert served_by is django
    assert f"data plane off: {__name__}.AsyncOnlyMiddleware cannot run synchronously" in caplog.text


def test_the_plane_core_runs_the_middleware_and_the_view_synchronously(settings: Any) -> None:
    # given a deployable's middleware (no gateway) around a plain view
    settings.MIDDLEWARE = [
        "apps.kernel.request_id.RequestIdMiddleware",
        "django.middleware.security.SecurityMiddleware",
    ]
    settings.ROOT_URLCONF = __name__
    plane = data_plane(_django())
    assert isinstance(plane, DataPlane)
    # when the core serves a request
    response = plane.core.get_response(RequestFactory().get("/plain/", HTTP_X_REQUEST_ID="core-request-1"))
    # then the view answered and both middleware added their headers
    assert isinstance(response, HttpResponse) and response.content == b"plain"
    assert response["X-Request-ID"] == "core-request-1" and response["X-Content-Type-Options"] == "nosniff"


def _plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"plain")


urlpatterns = [path("plain/", _plain)]


# --- the plane as an ASGI application, in process, with a body the test hands over as the server would -------------


class Counted(View):
    """Reads the whole body on the request's thread and answers how many bytes it got."""

    @classmethod
    def streams_request_body(cls, method: str, headers: Mapping[str, str]) -> bool:
        return True

    def put(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(str(len(request.read())).encode())


class Reader:
    """A claimed body as config/socket_body.py hands it over; `hold` makes reads wait until the reader is released."""

    def __init__(self, data: bytes, *, hold: bool = False) -> None:
        self.data, self.hold = data, hold
        self.releases = 0
        self.reading, self.released, self.failed = threading.Event(), threading.Event(), threading.Event()

    def read(self, size: int = -1) -> bytes:
        self.reading.set()
        if self.hold and not self.released.wait(timeout=10):
            raise AssertionError("the reader was never released")
        if self.released.is_set():
            self.failed.set()
            raise OSError("The request has finished.")
        block, self.data = (self.data, b"") if size < 0 else (self.data[:size], self.data[size:])
        return block

    def release(self) -> int | None:
        self.releases += 1
        self.released.set()
        return None

    def close(self) -> None:
        pass


class Offered:
    """The server's `fip.socket_body` extension, offering `reader` once."""

    def __init__(self, reader: Reader) -> None:
        self.reader: Reader | None = reader

    def claim(self, idle_timeout: float) -> Reader | None:
        reader, self.reader = self.reader, None
        return reader


def _scope(reader: Reader | None) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "PUT",
        "path": "/counted/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-length", b"5"), (b"x-request-id", b"plane-asgi-1")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "extensions": {SOCKET_BODY: Offered(reader)} if reader is not None else {},
    }


class Signals:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def started(self, **kwargs: Any) -> None:
        self.sent.append("started")

    def finished(self, **kwargs: Any) -> None:
        self.sent.append("finished")


@pytest.fixture
def plane(settings: Any) -> Iterator[tuple[DataPlane, Signals]]:
    """A plane on a deployable's middleware (no gateway), serving this module's URLconf; the signals it sends."""
    settings.MIDDLEWARE = ["apps.kernel.request_id.RequestIdMiddleware"]
    settings.ROOT_URLCONF = __name__
    served = data_plane(BodyStreamingHandler(urlconf_of=lambda _: __name__))
    assert isinstance(served, DataPlane)
    seen = Signals()
    request_started.connect(seen.started)
    request_finished.connect(seen.finished)
    yield served, seen
    request_started.disconnect(seen.started)
    request_finished.disconnect(seen.finished)


async def _call(application: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"hello", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await application(scope, receive, send)
    return sent


def _served(by: str) -> float:
    """fip_data_plane_requests_total{served_by=by}."""
    return REQUESTS.labels(by)._value.get()


async def test_the_plane_serves_a_claimed_body_between_djangos_signals_and_releases_it(
    plane: tuple[DataPlane, Signals],
) -> None:
    application, seen = plane
    reader, before = Reader(b"hello"), _served("plane")
    # when a streamed request comes with its body offered from the socket
    sent = await _call(application, _scope(reader))
    # then the view read it on the plane, the middleware's header is on the answer, and the reader was released
    start, body = sent[0], b"".join(message.get("body", b"") for message in sent[1:])
    assert (start["status"], body) == (200, b"5")
    assert (b"X-Request-ID", b"plane-asgi-1") in start["headers"]
    assert _served("plane") == before + 1 and reader.releases >= 1
    # and Django's request signals were sent once each, the last after the response
    assert seen.sent == ["started", "finished"]


async def test_a_request_whose_body_is_not_offered_is_served_by_django(plane: tuple[DataPlane, Signals]) -> None:
    application, seen = plane
    before = _served("plane")
    sent = await _call(application, _scope(None))
    assert (sent[0]["status"], sent[1]["body"]) == (200, b"5")
    assert _served("plane") == before and seen.sent == ["started", "finished"]


async def test_a_cancelled_request_releases_its_body_so_its_thread_stops_reading(
    plane: tuple[DataPlane, Signals],
) -> None:
    # given a request whose view waits for body bytes that do not come
    application, _ = plane
    reader = Reader(b"hello", hold=True)
    task = asyncio.create_task(_call(application, _scope(reader)))
    assert await asyncio.to_thread(reader.reading.wait, 10)
    # when the server cancels it (a shutdown)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # then the reader was released, which ends the thread's wait with a failed read
    assert reader.released.is_set()
    assert await asyncio.to_thread(reader.failed.wait, 10)


@pytest.fixture
def gateway_plane(settings: Any) -> DataPlane:
    """A plane on the gateway's middleware (the edge judges first), serving this module's URLconf."""
    settings.MIDDLEWARE = ["apps.kernel.request_id.RequestIdMiddleware", "gateway.middleware.GatewayMiddleware"]
    settings.ROOT_URLCONF = __name__
    served = data_plane(BodyStreamingHandler(urlconf_of=lambda _: __name__))
    assert isinstance(served, DataPlane) and served.edge
    return served


async def test_a_path_no_route_claims_is_handed_to_django_with_its_claimed_body(gateway_plane: DataPlane) -> None:
    # given a streamed request on a path the route table does not claim
    reader, before = Reader(b"hello"), _served("django")
    # when it comes with its body offered from the socket
    sent = await _call(gateway_plane, _scope(reader))
    # then Django's handler served it, reading the body the plane had claimed
    assert (sent[0]["status"], sent[1]["body"]) == (200, b"5")
    assert _served("django") == before + 1 and reader.releases >= 1


async def test_an_edge_that_fails_hands_the_request_to_django(
    gateway_plane: DataPlane, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def failing(**_: Any) -> None:
        raise RuntimeError("the edge broke")

    monkeypatch.setattr("config.data_plane.edge_judge", failing)
    before = _served("django")
    with caplog.at_level(logging.ERROR, logger="config.data_plane"):
        sent = await _call(gateway_plane, _scope(Reader(b"hello")))
    assert (sent[0]["status"], sent[1]["body"]) == (200, b"5")
    assert "the edge failed; handing the request to Django" in caplog.text
    assert _served("django") == before + 1


urlpatterns.append(path("counted/", Counted.as_view()))
