"""The files context's public interface over HTTP, for other deployables (apps/files/remote.py calls these).

Mounted under /internal/files/ on the files deployable only; the gateway routes no /internal/ prefix, so these
are never reachable from outside, and each call must carry an internal service token addressed to `files`.
Opening a file answers with a short-lived signed URL rather than the bytes, so a multi-GB stream is one plain GET
the caller can retry from any offset with Range. Storing a result takes its bytes as the request body (streamed to
storage as they arrive, apps/files/api/asgi.py) and its fields in a header (apps/files/wire.py). The storage's
health is probed here, where the storage is, for a monitoring context in another deployable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.files import public
from apps.files.impl import LocalFilesService, readable_check
from apps.files.models import DownloadLog
from apps.files.selectors.files import file_get_any
from apps.files.services.downloads import download_link_issue, download_record
from apps.files.wire import RESULT_HEADER, result_fields_decode
from apps.kernel.errors import NotFoundError
from apps.kernel.internal_http import InternalApi
from apps.kernel.timestamps import timestamp

ERRORS: dict[type[Exception], tuple[int, str]] = {
    public.FileMissingError: (404, "FILE_MISSING"),
    public.FileNotReadableError: (409, "FILE_NOT_READABLE"),
    public.ResultInvalidError: (400, "RESULT_INVALID"),
}


def file_info_body(info: public.FileInfo) -> dict[str, Any]:
    body = asdict(info)
    body["created_at"] = timestamp(info.created_at)
    body["expires_at"] = timestamp(info.expires_at)
    body["validation"] = dict(info.validation) if info.validation is not None else None
    return body


class FilesInternalApi(InternalApi):
    public_errors = ERRORS

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, NotFoundError):  # the selectors' 404 is the interface's FileMissingError
            exc = public.FileMissingError(exc.message)
        return super().handle_exception(exc)


class FileInfoApi(FilesInternalApi):
    def get(self, request: Request, file_id: int) -> Response:
        return Response(file_info_body(LocalFilesService().file_get(file_id=file_id)))


class FileOpenApi(FilesInternalApi):
    def post(self, request: Request, file_id: int) -> Response:
        file = file_get_any(file_id=file_id)
        readable_check(file)
        link = download_link_issue(file=file)
        download_record(file_id=file.pk, action=DownloadLog.Action.OPEN, request=request)
        return Response(
            {"url": link.url, "expires_at": timestamp(link.expires_at), "size": file.upload_length},
            headers={"Cache-Control": "no-store"},
        )


class ResultFieldsSerializer(serializers.Serializer):
    """What the jobs context says about a result, registered or stored."""

    owner_id = serializers.IntegerField(min_value=1)
    job_id = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=1000)
    result_type = serializers.CharField(max_length=16)
    sha256 = serializers.CharField(max_length=64, allow_blank=True, default="")
    source_url = serializers.CharField(max_length=2000, allow_blank=True, default="")
    expires_at = serializers.DateTimeField(allow_null=True, default=None)
    zip_password = serializers.CharField(max_length=1024, allow_blank=True, default="", trim_whitespace=False)


def _result_fields(serializer: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    fields = serializer(data=data)
    if not fields.is_valid():
        raise public.ResultInvalidError(f"The result is not valid: {dict(fields.errors)}")
    return dict(fields.validated_data)


class ResultRegisterApi(FilesInternalApi):
    class InputSerializer(ResultFieldsSerializer):
        size = serializers.IntegerField(min_value=0, default=0)
        checksum = serializers.CharField(max_length=200, allow_blank=True, default="")

    def post(self, request: Request) -> Response:
        info = LocalFilesService().result_register(**_result_fields(self.InputSerializer, request.data))
        return Response(file_info_body(info), status=status.HTTP_201_CREATED)


class ResultStoreApi(FilesInternalApi):
    """POST the result's bytes as the body, its fields in the RESULT_HEADER header."""

    @classmethod
    def streams_request_body(cls, method: str, headers: Mapping[str, str]) -> bool:
        return method == "POST"

    def post(self, request: Request) -> Response:
        try:
            sent = result_fields_decode(request.headers.get(RESULT_HEADER, ""))
        except ValueError:
            raise public.ResultInvalidError(f"{RESULT_HEADER} is not base64-encoded JSON.") from None
        fields = _result_fields(ResultFieldsSerializer, sent)
        info = LocalFilesService.result_store_from(request._request, **fields)
        return Response(file_info_body(info), status=status.HTTP_201_CREATED)


class StorageHealthApi(FilesInternalApi):
    """200 whatever the storage's state: storage that is down is this call's answer, not its failure."""

    def get(self, request: Request) -> Response:
        health = LocalFilesService().storage_health()
        return Response(asdict(health), headers={"Cache-Control": "no-store"})
