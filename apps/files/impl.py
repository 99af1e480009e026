"""The in-process implementation of the files context's public interface (apps/files/public.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from apps.files import public
from apps.files.models import DownloadLog, FileStatus, UploadedFile
from apps.files.selectors.files import file_get_any
from apps.files.services.downloads import download_record
from apps.files.services.files import result_register, result_store
from apps.files.storage import Readable, storage_backend
from apps.kernel.errors import ApplicationError, NotFoundError


def file_info_of(file: UploadedFile) -> public.FileInfo:
    result = getattr(file, "result", None)
    return public.FileInfo(
        id=file.pk,
        owner_id=file.owner_id,
        name=file.name,
        kind=file.kind,
        status=file.status,
        size=file.upload_length,
        sha256=file.sha256,
        job_id=file.job_id or None,
        result_type=result.result_type if result is not None else None,
        validation=file.validation_report,
        created_at=file.created_at,
        expires_at=file.expires_at,
    )


def _file(file_id: int) -> UploadedFile:
    try:
        return file_get_any(file_id=file_id)
    except NotFoundError:
        raise public.FileMissingError(f"file {file_id} does not exist") from None


def result_invalid(exc: ApplicationError) -> public.ResultInvalidError:
    return public.ResultInvalidError(f"{exc.message} {exc.details or ''}".strip())


def readable_check(file: UploadedFile) -> None:
    if file.status != FileStatus.READY:
        raise public.FileNotReadableError(f"file {file.pk} is {file.status}, not ready")
    if not file.storage_key:
        raise public.FileNotReadableError(f"file {file.pk} is kept only as a link to its source")


class LocalFilesService(public.FilesService):
    def file_get(self, *, file_id: int) -> public.FileInfo:
        return file_info_of(_file(file_id))

    @contextmanager
    def file_open(self, *, file_id: int) -> Iterator[io.BufferedIOBase]:
        file = _file(file_id)
        readable_check(file)
        download_record(file_id=file.pk, action=DownloadLog.Action.OPEN)
        with io.BufferedReader(public.BlockReader(storage_backend().read(file.storage_key))) as stream:
            yield stream

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
        try:
            file = result_register(
                owner_id=owner_id,
                job_id=job_id,
                name=name,
                result_type=result_type,
                size=size,
                sha256=sha256,
                checksum=checksum,
                source_url=source_url,
                expires_at=expires_at,
                zip_password=zip_password,
            )
        except ApplicationError as exc:
            raise result_invalid(exc) from exc
        return file_info_of(file)

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
        with source.open("rb") as content:
            return self.result_store_from(
                content,
                owner_id=owner_id,
                job_id=job_id,
                name=name,
                result_type=result_type,
                sha256=sha256,
                expires_at=expires_at,
                zip_password=zip_password,
                source_url=source_url,
            )

    def storage_health(self) -> public.StorageHealth:
        return storage_backend().probe()

    @staticmethod
    def result_store_from(content: Readable, **fields: Any) -> public.FileInfo:
        """`result_store` from any readable stream (a local file, or the body of the internal API's request)."""
        try:
            return file_info_of(result_store(content=content, **fields))
        except ApplicationError as exc:
            raise result_invalid(exc) from exc
