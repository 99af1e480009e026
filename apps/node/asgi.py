"""The node as a process of its own (DEPLOYABLE=node): Django's ASGI application, plus the one fault Django cannot
make: a connection reset mid-upload.

Django reads a request's whole body before any view runs, so the switch `reset_upload: n` is served here: the next
n submits (Cloudgene's `POST .../jobs/submit/...`, WES's `POST .../runs`) are cut off after half their body, the
connection closed with no complete answer, and no job is created. Only with NODE_FAULTS_ENABLED.
Usage: DEPLOYABLE=node uvicorn apps.node.asgi:application --host 127.0.0.1 --port 8010 --lifespan off
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
django_application = get_asgi_application()

from asgiref.sync import sync_to_async  # noqa: E402
from django.conf import settings  # noqa: E402

from apps.node.models import Switches  # noqa: E402 (models need the app registry that the line above fills)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    if _is_submit(scope) and settings.NODE_FAULTS_ENABLED and await sync_to_async(Switches.take)("reset_upload"):
        await _reset_mid_upload(scope, receive, send)
        return
    await django_application(scope, receive, send)


def _is_submit(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    return (
        scope["type"] == "http"
        and scope.get("method") == "POST"
        and ("/api/v2/jobs/submit/" in path or path.endswith("/ga4gh/wes/v1/runs"))
    )


async def _reset_mid_upload(scope: Scope, receive: Receive, send: Send) -> None:
    headers = dict(scope.get("headers") or [])
    half = max(int(headers.get(b"content-length", b"0") or 0) // 2, 1)
    received = 0
    while received < half:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away first
        received += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    # the server closes a connection once an app fails after starting its answer: the rest of the body is never read
    await send({"type": "http.response.start", "status": 500, "headers": [(b"content-length", b"64")]})
    raise ConnectionResetError("injected: the connection was reset mid-upload")
