"""Writes of files once they exist: deletion (row first, bytes after commit), the results of jobs (registered as a
link, or stored here from bytes the jobs context fetched), and the owner's view of a result's zip password.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.files.errors import ForbiddenError
from apps.files.models import DB, FileKind, FileStatus, ResultFile, ResultType, UploadedFile
from apps.files.naming import name_sanitise
from apps.files.storage import BLOCK, Readable, key_new, storage_backend
from apps.kernel.errors import ApplicationError, NotFoundError
from apps.kernel.secretbox import secret_open, secret_seal

logger = logging.getLogger(__name__)

PASSWORD_MAX = 1024
SHA256_HEX = 64


def storage_release(*, key: str, state: dict[str, object] | None = None) -> None:
    """Remove an object (and an unfinished multipart upload); a failure leaves an orphan that retention reports
    and removes after its grace period, so it is logged rather than raised."""
    if not key:
        return
    try:
        storage_backend().upload_abort(key, dict(state or {}))
    except Exception:
        logger.exception("could not remove stored object %s; the retention task will find it as an orphan", key)


def file_delete(*, file: UploadedFile) -> None:
    """Forget the file, then remove its bytes once that has committed (a PATCH still running loses its lease)."""
    key, state = file.storage_key, dict(file.multipart)
    with transaction.atomic(using=DB):
        deleted, _ = UploadedFile.objects.using(DB).filter(pk=file.pk).delete()
        if deleted:
            transaction.on_commit(lambda: storage_release(key=key, state=state), using=DB)


LINK_SCHEMES = ("https://", "http://")  # a link-only result's downloads redirect there
NOTED_SCHEMES = (*LINK_SCHEMES, "drs://")  # a stored result's source is only noted (a WES node may give DRS URIs)


def _result_check(
    *,
    name: str,
    result_type: str,
    size: int,
    sha256: str,
    source_url: str,
    zip_password: str,
    source_schemes: tuple[str, ...] = LINK_SCHEMES,
) -> None:
    problems: dict[str, list[str]] = {}
    if result_type not in ResultType.values:
        problems["result_type"] = [f"Use one of {', '.join(ResultType.values)}."]
    if not name.strip():
        problems["name"] = ["A result needs a name."]
    if size < 0:
        problems["size"] = ["The size cannot be negative."]
    if sha256 and (len(sha256) != SHA256_HEX or any(c not in "0123456789abcdef" for c in sha256)):
        problems["sha256"] = ["Give the SHA-256 as 64 lower-case hexadecimal digits."]
    if source_url and not source_url.startswith(source_schemes):
        problems["source_url"] = [f"The source URL must start with {' or '.join(source_schemes)}."]
    if len(zip_password) > PASSWORD_MAX:
        problems["zip_password"] = [f"At most {PASSWORD_MAX} characters."]
    if problems:
        raise ApplicationError("The result is not valid.", details=problems)


def result_register(
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
) -> UploadedFile:
    """A job's result, kept as a link to where the service serves it (bytes are fetched only when downloaded)."""
    _result_check(
        name=name, result_type=result_type, size=size, sha256=sha256, source_url=source_url, zip_password=zip_password
    )
    return _result_record(
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


def _result_record(
    *,
    owner_id: int,
    job_id: str,
    name: str,
    result_type: str,
    size: int,
    sha256: str,
    checksum: str,
    source_url: str,
    expires_at: datetime | None,
    zip_password: str,
    storage_key: str = "",
) -> UploadedFile:
    """The rows of one result (the file, and what the jobs context said about it), in one transaction."""
    now = timezone.now()
    with transaction.atomic(using=DB):
        file = UploadedFile.objects.using(DB).create(
            owner_id=owner_id,
            kind=FileKind.RESULT,
            status=FileStatus.READY,
            name=name_sanitise(name),
            storage_key=storage_key,
            size=size,
            upload_length=size,
            upload_offset=size,
            sha256=sha256,
            job_id=job_id,
            completed_at=now,
            expires_at=expires_at,
        )
        ResultFile.objects.using(DB).create(
            file=file,
            result_type=result_type,
            checksum=checksum,
            source_url=source_url,
            zip_password=secret_seal(zip_password, setting="FILES_ENCRYPTION_KEYS") if zip_password else "",
        )
    return UploadedFile.objects.using(DB).select_related("result").get(pk=file.pk)


def _stored_result(*, owner_id: int, job_id: str, name: str, sha256: str) -> UploadedFile | None:
    """The result these bytes were already stored as (the same job, name and SHA-256), if any."""
    stored = UploadedFile.objects.using(DB).select_related("result").exclude(storage_key="")
    return stored.filter(
        kind=FileKind.RESULT, owner_id=owner_id, job_id=job_id, name=name_sanitise(name), sha256=sha256
    ).first()


class _HashedBlocks:
    """`content` in blocks of at most BLOCK bytes, hashed and counted on the way; refuses more than `limit`."""

    def __init__(self, content: Readable, limit: int) -> None:
        self.content, self.limit = content, limit
        self.digest = hashlib.sha256()
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        while block := self.content.read(BLOCK):
            self.size += len(block)
            if self.size > self.limit:
                raise ApplicationError(
                    f"The result is larger than {self.limit} bytes.", details={"size": [f"At most {self.limit}."]}
                )
            self.digest.update(block)
            yield block


def result_store(
    *,
    owner_id: int,
    job_id: str,
    name: str,
    result_type: str,
    content: Readable,
    sha256: str,
    expires_at: datetime | None = None,
    zip_password: str = "",
    source_url: str = "",
) -> UploadedFile:
    """A job's result whose bytes the jobs context fetched once: `content` is copied into storage (under a key of
    ours, never the name) in bounded memory, and kept only if its SHA-256 is the one the caller verified. Storing
    the same bytes for the same job and name again returns the result stored first (without reading `content`).
    """
    _result_check(
        name=name,
        result_type=result_type,
        size=0,
        sha256=sha256,
        source_url=source_url,
        zip_password=zip_password,
        source_schemes=NOTED_SCHEMES,
    )
    if not sha256:
        raise ApplicationError("The result is not valid.", details={"sha256": ["Give the SHA-256 of the bytes."]})
    existing = _stored_result(owner_id=owner_id, job_id=job_id, name=name, sha256=sha256)
    if existing is not None:
        return existing
    backend, key = storage_backend(), key_new("results")
    blocks = _HashedBlocks(content, settings.FILES_MAX_UPLOAD_BYTES)
    try:
        backend.write(key, blocks)
    except BaseException:
        storage_release(key=key)
        raise
    if blocks.digest.hexdigest() != sha256:
        storage_release(key=key)
        raise ApplicationError(
            "The result's bytes do not have the SHA-256 given; nothing was kept.",
            details={"sha256": [f"The bytes received ({blocks.size}) hash to {blocks.digest.hexdigest()}."]},
        )
    try:
        return _result_record(
            owner_id=owner_id,
            job_id=job_id,
            name=name,
            result_type=result_type,
            size=blocks.size,
            sha256=sha256,
            checksum="",
            source_url=source_url,
            expires_at=expires_at,
            zip_password=zip_password,
            storage_key=key,
        )
    except IntegrityError:  # the same result, stored at the same time by another call: keep that one
        storage_release(key=key)
        existing = _stored_result(owner_id=owner_id, job_id=job_id, name=name, sha256=sha256)
        if existing is None:
            raise
        return existing


def zip_password_reveal(*, file: UploadedFile, user_id: int) -> str:
    """The result's zip password, for its owner only (an admin who manages the file still may not read it)."""
    if file.owner_id != user_id:
        raise ForbiddenError("Only the owner of a result may see its zip password.")
    result = getattr(file, "result", None)
    if result is None or not result.zip_password:
        raise NotFoundError("This file has no zip password.")
    return secret_open(result.zip_password, setting="FILES_ENCRYPTION_KEYS")
