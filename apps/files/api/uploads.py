"""Resumable uploads, tus 1.0.0 (https://tus.io/protocols/resumable-upload): core protocol plus the creation,
expiration and termination extensions, as tus-js-client speaks them.

POST /api/files/uploads/        creation: Upload-Length (required; no deferred length), Upload-Metadata with
                                `filename` (and optionally `build`) -> 201, Location: /api/files/uploads/<id>/
HEAD /api/files/uploads/<id>/   Upload-Offset and Upload-Length; Cache-Control: no-store
PATCH /api/files/uploads/<id>/  Content-Type: application/offset+octet-stream, Upload-Offset = the current offset
                                (else 409), at most FILES_TUS_MAX_CHUNK_BYTES -> 204 with the new Upload-Offset
DELETE /api/files/uploads/<id>/ termination -> 204
OPTIONS (either path)           Tus-Version, Tus-Extension, Tus-Max-Size

Every request but OPTIONS must say Tus-Resumable: 1.0.0 (412 otherwise); every response says it too. A client
that cannot send PATCH or DELETE may POST with X-HTTP-Method-Override. Location is a path (resolved against the
endpoint by tus clients), so it stays right behind the gateway. Errors keep the API's JSON envelope.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse
from django.utils.http import http_date
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.files.api.bodies import caller_of, file_body
from apps.files.errors import PreconditionFailedError, UnsupportedMediaTypeError
from apps.files.models import FileStatus, UploadedFile
from apps.files.selectors.files import file_get
from apps.files.services.files import file_delete
from apps.files.services.uploads import upload_create, upload_patch
from apps.kernel.errors import ApplicationError

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,expiration,termination"
PATCH_CONTENT_TYPE = "application/offset+octet-stream"
METADATA_KEYS = {"filename", "name", "filetype", "build"}
OVERRIDABLE = {"PATCH", "DELETE", "HEAD"}


def metadata_parse(header: str) -> dict[str, str]:
    """`Upload-Metadata: key base64value,key2 base64value2` (values may be absent)."""
    parsed: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in header.split(","))):
        key, _, encoded = pair.partition(" ")
        if not key or key in parsed:
            raise ApplicationError(f"Upload-Metadata has an empty or repeated key {key!r}.")
        try:
            parsed[key] = base64.b64decode(encoded.strip(), validate=True).decode() if encoded.strip() else ""
        except (binascii.Error, UnicodeDecodeError):
            raise ApplicationError(f"The Upload-Metadata value of {key!r} is not base64-encoded UTF-8.") from None
    return parsed


def method_effective(method: str, override: str) -> str:
    """The method a request stands for: tus clients that cannot send PATCH or DELETE POST with an override."""
    return override.upper() if method == "POST" and override.upper() in OVERRIDABLE else method


def _header_int(request: Request, name: str) -> int:
    raw = request.headers.get(name)
    if raw is None or not raw.strip().isdigit():
        raise ApplicationError(f"Send {name} as a non-negative integer.", details={name: ["A non-negative integer."]})
    return int(raw)


class TusApi(APIView):
    """Protocol checks and headers shared by both tus endpoints."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        request.method = method_effective(request.method or "", request.headers.get("X-HTTP-Method-Override", ""))
        return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
            raise PreconditionFailedError(f"This server speaks tus {TUS_VERSION}; send Tus-Resumable: {TUS_VERSION}.")

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = TUS_VERSION
        if response.status_code == status.HTTP_412_PRECONDITION_FAILED:
            response["Tus-Version"] = TUS_VERSION
        return response

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        return Response(
            status=status.HTTP_204_NO_CONTENT,
            headers={
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": TUS_EXTENSIONS,
                "Tus-Max-Size": str(settings.FILES_MAX_UPLOAD_BYTES),
            },
        )


def _expiry_headers(file: UploadedFile) -> dict[str, str]:
    expires: datetime | None = file.expires_at
    if file.status != FileStatus.UPLOADING or expires is None:
        return {}
    return {"Upload-Expires": http_date(expires.timestamp())}


class UploadCreateApi(TusApi):
    def post(self, request: Request) -> Response:
        if "Upload-Defer-Length" in request.headers:
            raise ApplicationError("Deferred lengths are not supported; send Upload-Length.")
        length = _header_int(request, "Upload-Length")
        metadata = metadata_parse(request.headers.get("Upload-Metadata", ""))
        name = metadata.get("filename") or metadata.get("name") or ""
        if not name:
            raise ApplicationError(
                "Name the file in Upload-Metadata (filename <base64 name>).", details={"filename": ["Required."]}
            )
        kept = {key: value for key, value in metadata.items() if key in METADATA_KEYS - {"filename", "name"}}
        file = upload_create(owner_id=caller_of(request).user_id, length=length, name=name, metadata=kept)
        location = reverse("files-upload", kwargs={"file_id": file.pk})
        return Response(
            file_body(file),
            status=status.HTTP_201_CREATED,
            headers={"Location": location, "Upload-Offset": "0", **_expiry_headers(file)},
        )


class UploadApi(TusApi):
    @classmethod
    def streams_request_body(cls, method: str, headers: Mapping[str, str]) -> bool:
        """Under ASGI a chunk reaches `patch` while it arrives, not after a spool (apps/files/api/asgi.py)."""
        return method_effective(method, headers.get("x-http-method-override", "")) == "PATCH"

    def head(self, request: Request, file_id: int) -> Response:
        file = file_get(caller=caller_of(request), file_id=file_id, with_result=False)
        headers = {
            "Upload-Offset": str(file.upload_offset),
            "Upload-Length": str(file.upload_length),
            "Cache-Control": "no-store",
            **_expiry_headers(file),
        }
        return Response(status=status.HTTP_200_OK, headers=headers)

    def patch(self, request: Request, file_id: int) -> Response:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != PATCH_CONTENT_TYPE:
            raise UnsupportedMediaTypeError(f"Send chunks as Content-Type: {PATCH_CONTENT_TYPE}.")
        offset = _header_int(request, "Upload-Offset")
        raw_length = request.META.get("CONTENT_LENGTH")
        length = int(raw_length) if raw_length and raw_length.isdigit() else None
        file = upload_patch(
            caller=caller_of(request), file_id=file_id, offset=offset, body=request._request, length=length
        )
        return Response(
            status=status.HTTP_204_NO_CONTENT,
            headers={"Upload-Offset": str(file.upload_offset), **_expiry_headers(file)},
        )

    def delete(self, request: Request, file_id: int) -> Response:
        file_delete(file=file_get(caller=caller_of(request), file_id=file_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
