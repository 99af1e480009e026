"""What both fronts share: token auth, fault injection, the capped streaming upload."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.node import engine
from apps.node.models import NodeUser, Switches
from apps.node.tokens import TokenCheck, token_check

MAINTENANCE_MESSAGE = "This functionality is currently under maintenance."


def bearer(request: HttpRequest) -> str:
    """Cloudgene's raw `X-Auth-Token`, or WES's `Authorization: Bearer`."""
    token = request.headers.get("X-Auth-Token", "")
    if not token:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else ""
    return token.strip()


def caller(request: HttpRequest) -> TokenCheck:
    token = bearer(request)
    if not token:
        return TokenCheck(401, "Authentication required.")
    return token_check(token, now=engine.now())


def injected_fault(request: HttpRequest, *, error: Callable[[int, str], HttpResponse]) -> HttpResponse | None:
    """Apply the faults a test switched on: a delay, then a run of 500s (each one used up as it fires)."""
    switches = Switches.current()
    if not switches:
        return None
    delay = float(switches.get("slow_seconds", 0))
    if delay:
        time.sleep(min(delay, 30.0))  # a slow server, as a client sees it; views only, never a task
    failures = int(switches.get("fail_500", 0))
    if failures > 0:
        Switches.put(fail_500=failures - 1)
        return error(500, "Injected server error.")
    return None


class CappedUpload(TemporaryFileUploadHandler):
    """Streams file parts to temporary files and stops the request once it exceeds the node's upload limit."""

    def __init__(self, request: HttpRequest | None = None, *, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=True)
        return super().receive_data_chunk(raw_data, start)


def user_json(user: NodeUser | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"username": user.username, "mail": user.mail, "admin": user.admin, "name": user.username}


def epoch_ms(value: Any) -> int:
    return int(value.timestamp() * 1000) if value else -1


def json_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"success": False, "message": message}, status=status)
