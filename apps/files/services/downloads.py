"""Downloads: byte ranges, short-lived signed URLs and the access log.

A signed URL lets a browser (which cannot add an Authorization header to a plain link) or another context fetch
the bytes without a user token: S3 presigns its own; for local storage the token is ours, made with
django.core.signing under a salt of its own and checked for age. It names the file and its storage key, so it
dies with the file even if an id were ever reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from apps.files.errors import RangeNotSatisfiableError
from apps.files.models import DB, DownloadLog, UploadedFile
from apps.files.selectors.files import file_get_any
from apps.files.storage import storage_backend
from apps.kernel.errors import NotFoundError
from apps.kernel.request_id import request_id_get

SIGNING_SALT = "files.download"
USER_AGENT_MAX = 256


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


def range_parse(header: str, size: int) -> ByteRange | None:
    """The one range of a `Range: bytes=…` header, or None to send the whole file (no header, another unit,
    several ranges, or syntax we do not serve); RangeNotSatisfiableError when it lies wholly past the end."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or last.isdigit()) or (first and not first.isdigit()):
        return None
    if last and not last.isdigit():
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiableError(size)
        return ByteRange(max(0, size - suffix), size)
    start = int(first)
    if last and int(last) < start:  # syntactically invalid (RFC 9110 §14.1.1): ignored
        return None
    end = min(int(last) + 1, size) if last else size
    if start >= size:
        raise RangeNotSatisfiableError(size)
    return ByteRange(start, end)


@dataclass(frozen=True)
class SignedLink:
    url: str
    expires_at: datetime


def download_link_issue(*, file: UploadedFile) -> SignedLink:
    """A URL serving the file's bytes for FILES_SIGNED_URL_SECONDS: S3's presigned one, or ours (a path on the
    API's own origin) for local storage."""
    ttl = settings.FILES_SIGNED_URL_SECONDS
    expires_at = timezone.now() + timedelta(seconds=ttl)
    presigned = storage_backend().signed_url(file.storage_key, filename=file.name, ttl=ttl)
    if presigned:
        return SignedLink(url=presigned, expires_at=expires_at)
    token = signing.dumps({"f": file.pk, "k": file.storage_key}, salt=SIGNING_SALT)
    return SignedLink(url=reverse("files-signed-download", kwargs={"token": token}), expires_at=expires_at)


def download_link_open(*, token: str) -> UploadedFile:
    """The file a signed token names, if the token is genuine, young enough and the file still the same."""
    try:
        claims = signing.loads(token, salt=SIGNING_SALT, max_age=settings.FILES_SIGNED_URL_SECONDS)
    except signing.SignatureExpired:
        raise NotFoundError("This download link has expired; ask for a new one.") from None
    except signing.BadSignature:
        raise NotFoundError("This download link is not valid.") from None
    file = file_get_any(file_id=int(claims["f"]))
    if not file.storage_key or file.storage_key != claims.get("k"):
        raise NotFoundError("This download link is not valid.")
    return file


def download_record(
    *,
    file_id: int,
    action: str,
    actor_id: int | None = None,
    byte_range: str = "",
    request: HttpRequest | None = None,
) -> None:
    """One line of the access log (its own tiny write: a download is not a transaction worth rolling back)."""
    ip = request.META.get("REMOTE_ADDR") or None if request is not None else None
    agent = request.headers.get("User-Agent", "")[:USER_AGENT_MAX] if request is not None else ""
    DownloadLog.objects.using(DB).create(
        file_id=file_id,
        actor_id=actor_id,
        action=action,
        byte_range=byte_range,
        ip=ip,
        user_agent=agent,
        request_id=request_id_get() or "",
    )
