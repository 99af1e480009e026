"""What both fronts share: the request guards (faults, token, maintenance), the capped upload, submit refusals.

Each front passes its own error shape (`ErrorMaker`): Cloudgene's `{success, message}` or WES's `{msg, status_code}`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from functools import wraps
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.http.response import HttpResponseBase
from django.utils.datastructures import MultiValueDict

from apps.node import engine
from apps.node.models import NodeJob, NodeUser, Switches
from apps.node.tokens import TokenCheck, token_check

MAINTENANCE_MESSAGE = "This functionality is currently under maintenance."
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")

ErrorMaker = Callable[[int, str], HttpResponse]
View = Callable[..., HttpResponseBase]


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


def injected_fault(request: HttpRequest, *, error: ErrorMaker) -> HttpResponse | None:
    """The request faults a test switched on: a delay (`slow_seconds`), then a run of 500s (`fail_500: n`, each used
    up as it fires; `fail_500_method: "POST"` keeps them for that method)."""
    switches = Switches.current()
    if not switches:
        return None
    delay = float(switches.get("slow_seconds", 0))
    if delay:
        time.sleep(min(delay, 30.0))  # a slow server, as a client sees it; views only, never a task
    method = switches.get("fail_500_method")
    if switches.get("fail_500") and method in (None, request.method) and Switches.take("fail_500"):
        return error(500, "Injected server error.")
    return None


def open_endpoint(error: ErrorMaker) -> Callable[[View], View]:
    """An anonymous endpoint: only the injected faults apply."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            return injected_fault(request, error=error) or view(request, *args, **kwargs)

        return wrapper

    return decorate


def signed_in(error: ErrorMaker) -> Callable[[View], View]:
    """Injected faults first, then the API token (401 invalid or expired, 403 revoked), then maintenance (503 for
    everyone but admins); the view gets the token's user after the request."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            fault = injected_fault(request, error=error)
            if fault is not None:
                return fault
            check = caller(request)
            if check.user is None:
                return error(check.status, check.message)
            if Switches.current().get("maintenance") and not check.user.admin:
                return error(503, MAINTENANCE_MESSAGE)
            return view(request, check.user, *args, **kwargs)

        return wrapper

    return decorate


def submit_refusal(user: NodeUser, *, limit_status: int = 400) -> tuple[int, str] | None:
    """Why this user's submit is refused before its upload is read: a node that cannot impute (503, the install
    hint), or the per-user limit of queued and running jobs (Cloudgene answers it with 400; the WES front, where
    a 400 means a malformed request, with 429)."""
    problem = engine.beagle_problem()
    if problem:
        return 503, f"This node cannot run jobs: {problem}"
    if engine.active_jobs(user) >= settings.NODE_MAX_JOBS_PER_USER:
        return limit_status, f"Only {settings.NODE_MAX_JOBS_PER_USER} jobs per user can be executed simultaneously."
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


def submit_intake(
    request: HttpRequest, user: NodeUser, *, error: ErrorMaker, limit_status: int = 400
) -> tuple[QueryDict, MultiValueDict[str, UploadedFile]] | HttpResponse:
    """A submit's multipart fields and file parts (the parts on disk), or the refusal: `submit_refusal` before the
    body is read, 413 past NODE_UPLOAD_LIMIT_MB."""
    refusal = submit_refusal(user, limit_status=limit_status)
    if refusal:
        return error(*refusal)
    limit = settings.NODE_UPLOAD_LIMIT_MB * 1024 * 1024
    too_large = error(413, f"The upload exceeds the limit of {settings.NODE_UPLOAD_LIMIT_MB} MB.")
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
        return too_large
    handler = CappedUpload(request, limit=limit)
    request.upload_handlers = [handler]
    fields, files = request.POST, request.FILES
    return too_large if handler.exceeded else (fields, files)


def inputs_store(job: NodeJob, uploads: Iterable[UploadedFile]) -> None:
    """Copy the uploaded `*.vcf.gz` parts into the job's input folder (the pipeline reads nothing else)."""
    for upload in uploads:
        base = PurePosixPath(upload.name or "").name
        if base.endswith(".vcf.gz"):
            with (Path(job.workspace) / "input" / safe_name(base)).open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)


def safe_name(name: str) -> str:
    return _SAFE_NAME.sub("_", name)


def user_json(user: NodeUser | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"username": user.username, "mail": user.mail, "admin": user.admin, "name": user.username}


def epoch_ms(value: Any) -> int:
    return int(value.timestamp() * 1000) if value else -1


def json_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"success": False, "message": message}, status=status)
