"""How a file looks in the API (API_CONTRACT.md "files context"), built field by field so no internal column
(storage key, hash state, lease, multipart state, encrypted password, source URL) can slip into a body.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.request import Request

from apps.files.models import UploadedFile
from apps.files.selectors.files import Caller
from apps.kernel.timestamps import timestamp


def caller_of(request: Request) -> Caller:
    """The stateless principal of the access token (apps/kernel/principal.py); admins manage every file."""
    user = request.user
    if user.id is None:  # IsAuthenticated ran first; this narrows the type
        raise exceptions.NotAuthenticated()
    role = str(getattr(user, "role", ""))
    return Caller(user_id=int(user.id), is_admin=role == "admin" or bool(getattr(user, "is_staff", False)))


def result_body(file: UploadedFile) -> dict[str, Any] | None:
    result = getattr(file, "result", None)
    if result is None:
        return None
    return {
        "type": result.result_type,
        "checksum": result.checksum,
        "has_source_url": bool(result.source_url),
        "has_zip_password": bool(result.zip_password),
    }


def file_body(file: UploadedFile) -> dict[str, Any]:
    return {
        "id": file.pk,
        "owner_id": file.owner_id,
        "name": file.name,
        "kind": file.kind,
        "status": file.status,
        "size": file.upload_length,
        "offset": file.upload_offset,
        "sha256": file.sha256 or None,
        "job_id": file.job_id or None,
        "validation": file.validation_report,
        "result": result_body(file),
        "created_at": timestamp(file.created_at),
        "updated_at": timestamp(file.updated_at),
        "completed_at": timestamp(file.completed_at),
        "expires_at": timestamp(file.expires_at),
    }


def file_bodies(files: list[UploadedFile]) -> list[dict[str, Any]]:
    return [file_body(file) for file in files]
