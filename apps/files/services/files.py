"""Writes of files once they exist: deletion (row first, bytes after commit), result registration for the jobs
context, and the owner's view of a result's zip password.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.files.cipher import secret_decrypt, secret_encrypt
from apps.files.errors import ForbiddenError
from apps.files.models import DB, FileKind, FileStatus, ResultFile, ResultType, UploadedFile
from apps.files.naming import name_sanitise
from apps.files.storage import storage_backend
from apps.kernel.errors import ApplicationError, NotFoundError

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


def _result_check(*, name: str, result_type: str, size: int, sha256: str, source_url: str, zip_password: str) -> None:
    problems: dict[str, list[str]] = {}
    if result_type not in ResultType.values:
        problems["result_type"] = [f"Use one of {', '.join(ResultType.values)}."]
    if not name.strip():
        problems["name"] = ["A result needs a name."]
    if size < 0:
        problems["size"] = ["The size cannot be negative."]
    if sha256 and (len(sha256) != SHA256_HEX or any(c not in "0123456789abcdef" for c in sha256)):
        problems["sha256"] = ["Give the SHA-256 as 64 lower-case hexadecimal digits."]
    if source_url and not source_url.startswith(("https://", "http://")):
        problems["source_url"] = ["The source URL must be http(s)."]
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
    now = timezone.now()
    with transaction.atomic(using=DB):
        file = UploadedFile.objects.using(DB).create(
            owner_id=owner_id,
            kind=FileKind.RESULT,
            status=FileStatus.READY,
            name=name_sanitise(name),
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
            zip_password=secret_encrypt(zip_password) if zip_password else "",
        )
    return UploadedFile.objects.using(DB).select_related("result").get(pk=file.pk)


def zip_password_reveal(*, file: UploadedFile, user_id: int) -> str:
    """The result's zip password, for its owner only (an admin who manages the file still may not read it)."""
    if file.owner_id != user_id:
        raise ForbiddenError("Only the owner of a result may see its zip password.")
    result = getattr(file, "result", None)
    if result is None or not result.zip_password:
        raise NotFoundError("This file has no zip password.")
    return secret_decrypt(result.zip_password)
