"""A URLconf for the request-thread tests: a view that says which thread served it and whether its database connection
was already open, and
one that holds its thread until the test lets it go."""

from __future__ import annotations

import threading

from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.urls import path

held = threading.Event()  # set: /hold/ has started
release = threading.Event()  # set: /hold/ may return
holder: list[threading.Thread] = []  # the thread /hold/ runs on


def where(request: HttpRequest) -> JsonResponse:
    database = connections["files"]
    reused = database.connection is not None  # opened by an earlier request on this thread, and kept
    database.ensure_connection()
    return JsonResponse({"thread": threading.get_ident(), "connection_reused": reused})


def hold(request: HttpRequest) -> JsonResponse:
    holder[:] = [threading.current_thread()]
    held.set()
    release.wait(timeout=10)
    return JsonResponse({"thread": threading.get_ident()})


urlpatterns = [path("where/", where), path("hold/", hold)]
