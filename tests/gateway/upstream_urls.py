"""Endpoints of the test upstream: a real deployable process (DEPLOYABLE=jobs) serving these under /api/jobs/.

They exercise what a proxy must carry faithfully: methods, headers, large streamed bodies both ways,
slowness and arbitrary statuses. Bodies are read and produced in chunks so the upstream stays small too.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

CHUNK = bytes(range(256)) * 256  # 64 KiB of a known pattern


def blob_bytes(size: int) -> Iterator[bytes]:
    """The bytes /blob/ serves: the pattern repeated up to `size` (tests recompute the digest)."""
    full, rest = divmod(size, len(CHUNK))
    for _ in range(full):
        yield CHUNK
    if rest:
        yield CHUNK[:rest]


@csrf_exempt
def echo(request: HttpRequest) -> JsonResponse:
    digest, length = hashlib.sha256(), 0
    while chunk := request.read(1 << 16):
        digest.update(chunk)
        length += len(chunk)
    return JsonResponse(
        {
            "method": request.method,
            "path": request.path,
            "query": request.GET.dict(),
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "remote_addr": request.META.get("REMOTE_ADDR"),
            "body_length": length,
            "body_sha256": digest.hexdigest(),
        },
        headers={"X-Upstream": "jobs", "Cache-Control": "no-store"},
    )


def blob(request: HttpRequest) -> StreamingHttpResponse:
    size = int(request.GET.get("size", "0"))
    response = StreamingHttpResponse(blob_bytes(size), content_type="application/octet-stream")
    response["Content-Length"] = str(size)
    return response


async def slow(request: HttpRequest) -> JsonResponse:
    await asyncio.sleep(float(request.GET.get("seconds", "1")))
    return JsonResponse({"slept": True})


def status(request: HttpRequest, code: int) -> JsonResponse:
    return JsonResponse({"status": code}, status=code)


def item(request: HttpRequest, pk: int) -> JsonResponse:
    """A resource with a volatile field, for shadow comparisons."""
    return JsonResponse({"id": pk, "name": f"item {pk}", "generated_at": timezone.now().isoformat()})


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@csrf_exempt
def reply(request: HttpRequest, code: int) -> JsonResponse:
    """Like status/, for any method (POST included): reads the body, then answers `code`."""
    while request.read(1 << 16):
        pass
    return JsonResponse({"status": code, "method": request.method}, status=code)


def cors(request: HttpRequest) -> JsonResponse:
    """Answers with CORS headers of its own (the gateway must drop them) and two cookies."""
    response = JsonResponse({"cors": "upstream"})
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Allow-Credentials"] = "true"
    response.set_cookie("flavour", "oat", path="/api/jobs/", httponly=True)
    response.set_cookie("colour", "blue", max_age=60)
    return response


GZIP_TEXT = b"compressible " * 1000


def compressed(request: HttpRequest) -> HttpResponse:
    """A gzip-encoded body whatever the caller accepts (a proxy must pass the bytes and headers as they are)."""
    return HttpResponse(
        gzip.compress(GZIP_TEXT, mtime=0), content_type="text/plain", headers={"Content-Encoding": "gzip"}
    )


def hop(request: HttpRequest) -> HttpResponse:
    """Names one of its own headers in Connection: it is meant for the next hop only."""
    return HttpResponse("hop", content_type="text/plain", headers={"Connection": "X-Hop", "X-Hop": "1", "X-Kept": "1"})


urlpatterns = [
    path("api/jobs/echo/", echo),
    path("api/jobs/blob/", blob),
    path("api/jobs/slow/", slow),
    path("api/jobs/status/<int:code>/", status),
    path("api/jobs/items/<int:pk>/", item),
    path("api/jobs/plain/", plain),
    path("api/jobs/reply/<int:code>/", reply),
    path("api/jobs/cors/", cors),
    path("api/jobs/gzip/", compressed),
    path("api/jobs/hop/", hop),
]
