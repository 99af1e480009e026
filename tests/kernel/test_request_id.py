"""Request ids: echoed when safe, minted otherwise, bound for the request's duration and carried into logs."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest
from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import AsyncRequestFactory, Client, RequestFactory

from apps.kernel.request_id import RequestIdLogFilter, RequestIdMiddleware, request_id_get

FRESH_ID = re.compile(r"[0-9a-f]{32}")


def _record() -> logging.LogRecord:
    return logging.LogRecord("tests.request_id", logging.INFO, __file__, 1, "hello", None, None)


@pytest.mark.parametrize(
    "incoming",
    [
        "0123456789abcdef0123456789abcdef",
        "client-req_2024.05.17",
        "abcdefgh",  # the shortest accepted: 8 characters
        "x" * 128,  # the longest accepted
    ],
)
def test_a_well_formed_incoming_id_is_echoed(incoming: str) -> None:
    response = Client().get("/healthz", headers={"X-Request-ID": incoming})

    assert response.status_code == 200
    assert response["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        "has spaces in it",
        "<script>alert(1)</script>",
        "abc;rm -rf",
        "short",
        "abcdefg",  # 7 characters, one short of the minimum
        "x" * 129,
        "y" * 200,
        "ïd-with-ünicode",
    ],
)
def test_a_malformed_incoming_id_is_replaced_by_a_fresh_one(incoming: str) -> None:
    response = Client().get("/healthz", headers={"X-Request-ID": incoming})

    assert response.status_code == 200
    assert FRESH_ID.fullmatch(response["X-Request-ID"])
    assert response["X-Request-ID"] != incoming


def test_an_absent_id_is_minted_fresh_for_each_request() -> None:
    client = Client()

    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]

    assert FRESH_ID.fullmatch(first)
    assert FRESH_ID.fullmatch(second)
    assert first != second


def test_an_empty_incoming_id_is_replaced() -> None:
    response = Client().get("/healthz", headers={"X-Request-ID": ""})

    assert FRESH_ID.fullmatch(response["X-Request-ID"])


def test_an_api_404_carries_the_echoed_id_in_its_error_envelope() -> None:
    response = Client().get("/api/does-not-exist/", headers={"X-Request-ID": "trace-404-abcdef"})

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response["X-Request-ID"] == "trace-404-abcdef"
    assert response.json() == {
        "error": {"code": "NOT_FOUND", "message": "Not found."},
        "request_id": "trace-404-abcdef",
    }


def test_an_api_404_without_an_incoming_id_carries_the_minted_one_in_header_and_body() -> None:
    response = Client().get("/api/does-not-exist/")

    minted = response["X-Request-ID"]
    assert response.status_code == 404
    assert FRESH_ID.fullmatch(minted)
    assert response.json() == {"error": {"code": "NOT_FOUND", "message": "Not found."}, "request_id": minted}


def test_sync_middleware_binds_the_id_inside_the_view_and_resets_it_afterwards() -> None:
    seen: list[str | None] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(request_id_get())
        return HttpResponse("ok")

    middleware = RequestIdMiddleware(view)
    request = RequestFactory().get("/", headers={"X-Request-ID": "sync-request-0001"})

    response = middleware(request)

    assert seen == ["sync-request-0001"]
    assert response["X-Request-ID"] == "sync-request-0001"
    assert request.request_id == "sync-request-0001"  # type: ignore[attr-defined]
    assert request_id_get() is None


def test_sync_middleware_resets_the_id_when_the_view_raises() -> None:
    def view(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("view failed")

    middleware = RequestIdMiddleware(view)

    with pytest.raises(RuntimeError, match="view failed"):
        middleware(RequestFactory().get("/", headers={"X-Request-ID": "sync-request-0002"}))

    assert request_id_get() is None


@pytest.mark.asyncio
async def test_async_middleware_binds_the_id_inside_the_view_and_resets_it_afterwards() -> None:
    seen: list[str | None] = []

    async def view(request: HttpRequest) -> HttpResponse:
        await asyncio.sleep(0)
        seen.append(request_id_get())
        return JsonResponse({"ok": True})

    middleware = RequestIdMiddleware(view)
    request = AsyncRequestFactory().get("/", headers={"X-Request-ID": "async-request-0001"})

    response = await middleware(request)

    assert iscoroutinefunction(middleware)
    assert seen == ["async-request-0001"]
    assert response["X-Request-ID"] == "async-request-0001"
    assert request_id_get() is None


@pytest.mark.asyncio
async def test_async_middleware_mints_an_id_when_none_is_given() -> None:
    seen: list[str | None] = []

    async def view(request: HttpRequest) -> HttpResponse:
        seen.append(request_id_get())
        return HttpResponse("ok")

    response = await RequestIdMiddleware(view)(AsyncRequestFactory().get("/"))

    assert FRESH_ID.fullmatch(response["X-Request-ID"])
    assert seen == [response["X-Request-ID"]]
    assert request_id_get() is None


@pytest.mark.asyncio
async def test_concurrent_async_requests_each_see_their_own_id() -> None:
    first_inside = asyncio.Event()
    second_inside = asyncio.Event()
    seen: dict[str, str | None] = {}

    async def view(request: HttpRequest) -> HttpResponse:
        name = request.GET["name"]
        if name == "first":
            first_inside.set()
            await second_inside.wait()  # the second request binds its id while this one is still running
        else:
            await first_inside.wait()
            second_inside.set()
        seen[name] = request_id_get()
        return HttpResponse(name)

    middleware = RequestIdMiddleware(view)
    factory = AsyncRequestFactory()

    await asyncio.wait_for(
        asyncio.gather(
            middleware(factory.get("/?name=first", headers={"X-Request-ID": "first-request-id"})),
            middleware(factory.get("/?name=second", headers={"X-Request-ID": "second-request-id"})),
        ),
        timeout=5,
    )

    assert seen == {"first": "first-request-id", "second": "second-request-id"}


@pytest.mark.asyncio
async def test_async_middleware_resets_the_id_when_the_view_raises() -> None:
    async def view(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("async view failed")

    with pytest.raises(RuntimeError, match="async view failed"):
        await RequestIdMiddleware(view)(AsyncRequestFactory().get("/", headers={"X-Request-ID": "async-request-2"}))

    assert request_id_get() is None


def test_log_filter_marks_records_outside_a_request_with_a_dash() -> None:
    record = _record()

    kept = RequestIdLogFilter().filter(record)

    assert kept is True
    assert record.__dict__["request_id"] == "-"


def test_log_filter_sets_the_id_of_the_request_being_served() -> None:
    records: list[logging.LogRecord] = []

    def view(request: HttpRequest) -> HttpResponse:
        record = _record()
        RequestIdLogFilter().filter(record)
        records.append(record)
        return HttpResponse("ok")

    RequestIdMiddleware(view)(RequestFactory().get("/", headers={"X-Request-ID": "logged-request-01"}))

    assert [record.__dict__["request_id"] for record in records] == ["logged-request-01"]


def test_the_configured_console_handler_formats_the_request_id_into_each_line() -> None:
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RequestIdLogFilter) for f in handler.filters)
    ]
    assert len(handlers) == 1
    [console] = handlers
    lines: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        record = _record()
        assert console.filter(record)
        lines.append(console.format(record))
        return HttpResponse("ok")

    RequestIdMiddleware(view)(RequestFactory().get("/", headers={"X-Request-ID": "formatted-req-01"}))
    outside = _record()
    assert console.filter(outside)

    inside, after = json.loads(lines[0]), json.loads(console.format(outside))
    assert (inside["level"], inside["logger"], inside["message"]) == ("INFO", "tests.request_id", "hello")
    assert (inside["request_id"], after["request_id"]) == ("formatted-req-01", "-")
