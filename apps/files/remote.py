"""The files context's public interface over HTTP, for deployables that do not host the files context.

Calls carry a short-lived internal service token addressed to `files`. Opening a file asks the files deployable
for a signed URL (its own, or S3's presigned one) and streams the GET of it in blocks; nothing is buffered whole.
Reads retry once on a new connection; a registration is never retried once it may have reached the server.
Storing a result streams the local file as the body of one request (apps/files/wire.py), read in blocks.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin

import httpx
from django.utils.dateparse import parse_datetime

from apps.files import public
from apps.files.wire import RESULT_HEADER, result_fields_encode
from apps.kernel.internal_auth import INTERNAL_TOKEN_HEADER, internal_token_issue
from apps.kernel.internal_http import InternalClient

ERRORS: dict[str, type[Exception]] = {
    "FILE_MISSING": public.FileMissingError,
    "FILE_NOT_READABLE": public.FileNotReadableError,
    "RESULT_INVALID": public.ResultInvalidError,
}
STREAM_BLOCK = 1 << 20
STORAGE_HEALTH_SECONDS = 3.0  # under the health report's wait (MONITORING_HEALTH_TIMEOUT + 1 s)
STORE_ANSWER_SECONDS = 60.0  # after the last byte: the deployable syncs the bytes (or sends them on to S3) ...
STORE_BYTES_PER_SECOND = 20 * 1024**2  # ... at no less than this rate, before it answers


def _file_info(body: dict[str, Any]) -> public.FileInfo:
    created, expires = parse_datetime(body["created_at"]), body.get("expires_at")
    assert created is not None  # the server always sends it
    return public.FileInfo(
        **{
            **body,
            "created_at": created,
            "expires_at": parse_datetime(expires) if expires else None,
        }
    )


class RemoteFilesService(public.FilesService):
    def __init__(self, *, base_url: str, timeout: float = 10.0) -> None:
        self.base_url, self.timeout = base_url.rstrip("/") + "/", timeout
        self.internal = InternalClient(
            base_url=base_url,
            audience="files",
            errors=ERRORS,
            unavailable=public.FilesUnavailableError,
            timeout=timeout,
        )
        self.client = self.internal.client  # the same connection pool streams the signed URLs
        self._call = self.internal.call

    def file_get(self, *, file_id: int) -> public.FileInfo:
        return _file_info(self._call("GET", f"/internal/files/{file_id}/"))

    @contextmanager
    def file_open(self, *, file_id: int) -> Iterator[io.BufferedIOBase]:
        link = self._call("POST", f"/internal/files/{file_id}/open/")
        url = urljoin(self.base_url, link["url"])  # a path on the deployable, or S3's absolute presigned URL
        try:
            with self.client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response:
                if not response.is_success:
                    raise public.FilesUnavailableError(f"opening file {file_id} answered {response.status_code}")
                blocks = response.iter_raw(STREAM_BLOCK)
                with io.BufferedReader(public.BlockReader(blocks), STREAM_BLOCK) as stream:
                    yield stream
        except httpx.HTTPError as exc:
            raise public.FilesUnavailableError(f"streaming file {file_id} failed: {exc.__class__.__name__}") from exc

    def result_register(
        self,
        *,
        owner_id: int,
        job_id: str,
        name: str,
        result_type: str,
        size: int = 0,
        sha256: str = "",
        checksum: str = "",
        source_url: str = "",
        expires_at: datetime | None = None,
        zip_password: str = "",
    ) -> public.FileInfo:
        body = {
            "owner_id": owner_id,
            "job_id": job_id,
            "name": name,
            "result_type": result_type,
            "size": size,
            "sha256": sha256,
            "checksum": checksum,
            "source_url": source_url,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "zip_password": zip_password,
        }
        return _file_info(self._call("POST", "/internal/files/results/", body))

    def result_store(
        self,
        *,
        owner_id: int,
        job_id: str,
        name: str,
        result_type: str,
        source: Path,
        sha256: str,
        expires_at: datetime | None = None,
        zip_password: str = "",
        source_url: str = "",
    ) -> public.FileInfo:
        fields = {
            "owner_id": owner_id,
            "job_id": job_id,
            "name": name,
            "result_type": result_type,
            "sha256": sha256,
            "source_url": source_url,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "zip_password": zip_password,
        }
        size = source.stat().st_size
        headers = {
            INTERNAL_TOKEN_HEADER: internal_token_issue(audience="files"),
            RESULT_HEADER: result_fields_encode(fields),
            "Content-Type": "application/octet-stream",
            "Content-Length": str(size),
        }
        timeout = httpx.Timeout(self.timeout, read=STORE_ANSWER_SECONDS + size / STORE_BYTES_PER_SECOND)
        path = "/internal/files/results/stored/"
        with source.open("rb") as content:
            try:
                response = self.client.post(path, content=_blocks(content), headers=headers, timeout=timeout)
            except httpx.HTTPError as exc:
                raise public.FilesUnavailableError(f"storing a result failed: {exc.__class__.__name__}") from exc
        return _file_info(_answer(response, f"POST {path}"))

    def storage_health(self) -> public.StorageHealth:
        """The files deployable probes its own storage (within its probe's short timeouts); asked with a timeout of
        its own, so the health report gets this answer rather than its own "no answer"."""
        body = self.internal.call("GET", "/internal/files/storage-health/", timeout=STORAGE_HEALTH_SECONDS)
        data = body.get("data")
        return public.StorageHealth(
            backend=str(body.get("backend", "")),
            ok=body.get("ok") is True,
            detail=str(body.get("detail", "")),
            data=data if isinstance(data, dict) else {},
        )


def _blocks(content: IO[bytes]) -> Iterator[bytes]:
    while block := content.read(STREAM_BLOCK):
        yield block


def _answer(response: httpx.Response, what: str) -> dict[str, Any]:
    """The body of a success; a public error as its exception; anything else as FilesUnavailableError."""
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if response.is_success:
        return body
    error = body.get("error") or {}
    raised = ERRORS.get(str(error.get("code")))
    if raised is not None:
        raise raised(str(error.get("message", "")))
    raise public.FilesUnavailableError(f"the files deployable answered {response.status_code} to {what}")
