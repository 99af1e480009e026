"""Reads of the files context. A caller reaches their own files; admins reach everyone's; anyone else's id reads
as missing (404), so ids reveal nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet, Sum

from apps.files.errors import FILE_NOT_FOUND
from apps.files.models import DB, FileKind, UploadedFile
from apps.kernel.errors import NotFoundError


@dataclass(frozen=True)
class Caller:
    """Who asks, as the access token says (apps/kernel/principal.py): no lookup in the users context."""

    user_id: int
    is_admin: bool = False


def _visible(caller: Caller, *, with_result: bool = True) -> QuerySet[UploadedFile]:
    files = UploadedFile.objects.using(DB)
    files = files.select_related("result") if with_result else files  # select_related() alone would follow every FK
    return files if caller.is_admin else files.filter(owner_id=caller.user_id)


def file_list(*, caller: Caller, kind: str | None = None, job_id: str | None = None) -> QuerySet[UploadedFile]:
    """Newest first. Admins see everyone's files in listings too, since they manage storage."""
    files = _visible(caller)
    if kind:
        files = files.filter(kind=kind)
    if job_id:
        files = files.filter(job_id=job_id)
    return files.order_by("-created_at", "-pk")


def file_get(*, caller: Caller, file_id: int, with_result: bool = True) -> UploadedFile:
    """`with_result=False` leaves out the result's row, for callers that never read it: tus HEAD and PATCH run once
    per chunk, and compiling the join costs the ORM more than the rest of the query."""
    try:
        return _visible(caller, with_result=with_result).get(pk=file_id)
    except UploadedFile.DoesNotExist:
        raise NotFoundError(FILE_NOT_FOUND) from None


def file_get_any(*, file_id: int) -> UploadedFile:
    """For other contexts and signed URLs, which have already been authorised."""
    file = UploadedFile.objects.using(DB).select_related("result").filter(pk=file_id).first()
    if file is None:
        raise NotFoundError(FILE_NOT_FOUND)
    return file


def stored_bytes(*, owner_id: int) -> int:
    """What counts against the owner's quota: every file with bytes here, uploads counted at their full length."""
    owned = UploadedFile.objects.using(DB).filter(owner_id=owner_id).exclude(storage_key="")
    return int(owned.aggregate(total=Sum("upload_length"))["total"] or 0)


def kind_valid(kind: str) -> bool:
    return kind in FileKind.values
