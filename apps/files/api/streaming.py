"""Responses that send a stored file's bytes in blocks, with Range support, in bounded memory under ASGI and WSGI.

Django's ASGI handler turns a StreamingHttpResponse over a *sync* iterator into a list first (whole file in
memory), so this response pulls one block at a time on a worker thread instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.http import HttpRequest, StreamingHttpResponse

from apps.files.models import UploadedFile
from apps.files.naming import content_disposition
from apps.files.services.downloads import range_parse
from apps.files.storage import storage_backend


def _next_block(blocks: Iterator[bytes]) -> bytes | None:
    return next(blocks, None)


class BlockStreamingResponse(StreamingHttpResponse):
    def __init__(self, blocks: Iterator[bytes], *, status: int = 200) -> None:
        super().__init__(blocks, status=status, content_type="application/octet-stream")
        self.blocks = blocks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        pull = sync_to_async(_next_block, thread_sensitive=False)
        try:
            while (block := await pull(self.blocks)) is not None:
                yield block
        finally:
            close = getattr(self.blocks, "close", None)
            if close is not None:
                await sync_to_async(close, thread_sensitive=False)()


def file_response(request: HttpRequest, file: UploadedFile) -> BlockStreamingResponse:
    """The file's bytes, or the one range asked for (206); raises RangeNotSatisfiableError for 416."""
    size = file.size
    wanted = range_parse(request.headers.get("Range", ""), size) if request.headers.get("Range") else None
    start, end = (wanted.start, wanted.end) if wanted else (0, size)
    blocks = storage_backend().read(file.storage_key, start, end)
    response = BlockStreamingResponse(blocks, status=206 if wanted else 200)
    response["Content-Length"] = str(end - start)
    if wanted:
        response["Content-Range"] = wanted.content_range(size)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = content_disposition(file.name)
    response["Cache-Control"] = "private, no-store"
    if file.sha256:
        response["ETag"] = f'"{file.sha256}"'
    return response
