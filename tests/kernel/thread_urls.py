"""A URLconf for the request-thread tests: a view that says which thread served it, and one that holds its thread
until the test lets it go."""

from __future__ import annotations

import threading
import uuid

from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.urls import path

held = threading.Event()  # set: /hold/ has started
release = threading.Event()  # set: /hold/ may return
holder: list[str] = []  # the mark of the thread /hold/ runs on (an abandoned request's answer never arrives)
_marks = threading.local()


def _thread_mark() -> str:
    """Unique to the thread that runs it (thread idents are reused once a thread has ended; this is not)."""
    if not hasattr(_marks, "mark"):
        _marks.mark = uuid.uuid4().hex
    return str(_marks.mark)


def where(request: HttpRequest) -> JsonResponse:
    connections["files"].ensure_connection()  # a request that uses a database, as most do
    return JsonResponse({"thread": _thread_mark()})


def hold(request: HttpRequest) -> JsonResponse:
    holder[:] = [_thread_mark()]
    held.set()
    release.wait(timeout=10)
    return JsonResponse({"thread": _thread_mark()})


urlpatterns = [path("where/", where), path("hold/", hold)]
