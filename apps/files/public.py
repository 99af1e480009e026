"""The files context's public interface: the only part of apps.files that other contexts may import.

The jobs context reads a file's metadata (owner, status, checksum), opens an input's bytes to stream them to a
remote imputation service, and records the results a job produced: stored here from a local copy it fetched once
(`result_store`), or registered as a link to where the service keeps them (`result_register`).
`get_files_service()` answers in-process, or over HTTP when the files context runs as its own deployable
(CONTEXT_URLS["files"]): there, opening a file asks for a short-lived signed URL and streams from it, and storing a
result streams the file as a request body. Both implementations pass the same tests (apps/files/tests/test_public.py).
The monitoring context asks `storage_health()` whether the storage holding the bytes (a directory or a bucket) answers.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

RESULT_TYPES = ("imputed", "qc_report", "log")


@dataclass(frozen=True)
class FileInfo:
    id: int
    owner_id: int
    name: str
    kind: str  # input | result
    status: str  # uploading | validating | ready | rejected
    size: int
    sha256: str
    job_id: str | None
    result_type: str | None  # imputed | qc_report | log, for results
    validation: Mapping[str, Any] | None
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class StorageHealth:
    """What a probe of the files' storage found. `data` says what was probed, in JSON types: local `root`,
    `free_bytes`, `total_bytes`; s3 `bucket`, `endpoint`. When not `ok`, `detail` says why."""

    backend: str  # local | s3
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


class FilesError(Exception):
    """Base of the files context's public errors."""


class FileMissingError(FilesError):
    """No such file (or it has been deleted)."""


class FileNotReadableError(FilesError):
    """The file has no bytes to read here: still uploading, rejected, or a result kept only as a link."""


class ResultInvalidError(FilesError):
    """The result registration was refused; the message says which field and why."""


class FilesUnavailableError(FilesError):
    """The files deployable could not be reached or answered with an error; the caller may retry later."""


class BlockReader(io.RawIOBase):
    """A read-only binary stream over an iterator of byte blocks (what `file_open` yields, buffered)."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        super().__init__()
        self._blocks = blocks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._pending = block
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        close = getattr(self._blocks, "close", None)
        if close is not None:
            close()
        super().close()


class FilesService(ABC):
    @abstractmethod
    def file_get(self, *, file_id: int) -> FileInfo:
        """The file's metadata; FileMissingError when there is none."""

    @abstractmethod
    def file_open(self, *, file_id: int) -> AbstractContextManager[io.BufferedIOBase]:
        """The bytes of a ready file as a readable stream, in bounded memory however large the file."""

    @abstractmethod
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
    ) -> FileInfo:
        """Record a job's result (a link to where the service serves it); the zip password is stored encrypted."""

    @abstractmethod
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
    ) -> FileInfo:
        """Store a job's result from the local file `source` (streamed, in bounded memory, however large) and record
        it as a ready result of the owner, downloadable like any of their files. ResultInvalidError when the bytes do
        not hash to `sha256` (nothing is kept) or a field is invalid. Storing the same bytes again for the same job
        and name returns the result stored first. The zip password is stored encrypted and shown only to the owner.
        """

    @abstractmethod
    def storage_health(self) -> StorageHealth:
        """Probe the storage that holds the files' bytes, answering within seconds: storage that is missing or does
        not answer is `ok=False` with the reason, not an error; FilesUnavailableError when the files deployable
        cannot be asked. Free space is reported, not judged: how much is enough is the caller's call."""


# By name, so this module (imported by other contexts) does not import the implementations, which import it.
LOCAL = "apps.files.impl.LocalFilesService"
REMOTE = "apps.files.remote.RemoteFilesService"


@lru_cache(maxsize=4)
def _remote(base_url: str) -> FilesService:
    service: FilesService = import_string(REMOTE)(base_url=base_url)
    return service


def get_files_service() -> FilesService:
    """In-process unless the files context has been extracted and this process is not it."""
    base_url = settings.CONTEXT_URLS.get("files")
    if base_url and settings.DEPLOYABLE != "files":
        return _remote(base_url)
    service: FilesService = import_string(LOCAL)()
    return service
