"""When the data plane stands in front of Django's handler (config/data_plane.py), and when it stays out."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import path

from apps.files.api.asgi import BodyStreamingHandler
from config.data_plane import DataPlane, data_plane


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
