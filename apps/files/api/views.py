"""The files endpoints (API_CONTRACT.md "files context") other than the tus uploads (apps/files/api/uploads.py).

Owner or admin only: another user's file id answers 404 exactly like one that does not exist. Downloads of stored
bytes stream from local storage with Range support, or redirect to a short-lived presigned S3 URL; link-only
results redirect to where the service serves them. Every download is logged.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponseBase, HttpResponseRedirect
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.files.api.bodies import caller_of, file_bodies, file_body
from apps.files.api.streaming import file_response
from apps.files.errors import PayloadTooLargeError, RangeNotSatisfiableError
from apps.files.models import DB, DownloadLog, FileStatus, UploadedFile
from apps.files.selectors.files import file_get, file_list, kind_valid
from apps.files.services.downloads import download_link_issue, download_link_open, download_record
from apps.files.services.files import file_delete, zip_password_reveal
from apps.files.services.uploads import file_upload_oneshot
from apps.files.storage import storage_backend
from apps.kernel.connections import connection_release
from apps.kernel.errors import ApplicationError, ConflictError
from apps.kernel.pagination import paginated_response

REDIRECT = DownloadLog.Action.REDIRECT
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the one file field


class FileListApi(APIView):
    def get(self, request: Request) -> Response:
        kind = request.query_params.get("kind") or None
        if kind and not kind_valid(kind):
            raise ApplicationError("kind must be input or result.", details={"kind": ["Use input or result."]})
        files = file_list(caller=caller_of(request), kind=kind, job_id=request.query_params.get("job") or None)
        return paginated_response(items=files, render=file_bodies, request=request, view=self)

    def post(self, request: Request) -> Response:
        """One-shot upload of a small file (multipart field `file`); larger files use the resumable uploads."""
        declared = request.META.get("CONTENT_LENGTH") or ""
        limit = settings.FILES_ONESHOT_MAX_BYTES
        if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
            raise PayloadTooLargeError(
                f"One-shot uploads take at most {limit} bytes; use the resumable upload at /api/files/uploads/."
            )
        upload = request.FILES.get("file")
        if upload is None:
            raise ApplicationError("Send the file as the multipart field `file`.", details={"file": ["Required."]})
        job_id = request.data.get("job_id") or None
        file = file_upload_oneshot(
            owner_id=caller_of(request).user_id,
            name=upload.name or "",
            content=upload,
            size=upload.size or 0,
            job_id=str(job_id) if job_id else None,
        )
        return Response(file_body(file), status=status.HTTP_201_CREATED)


class FileDetailApi(APIView):
    def get(self, request: Request, file_id: int) -> Response:
        return Response(file_body(file_get(caller=caller_of(request), file_id=file_id)))

    def delete(self, request: Request, file_id: int) -> Response:
        file_delete(file=file_get(caller=caller_of(request), file_id=file_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class FileValidationApi(APIView):
    def get(self, request: Request, file_id: int) -> Response:
        file = file_get(caller=caller_of(request), file_id=file_id)
        return Response({"file_id": file.pk, "status": file.status, "report": file.validation_report})


def _downloadable(file: UploadedFile) -> None:
    if file.status == FileStatus.UPLOADING:
        raise ConflictError("This file is still being uploaded.")


class RangeApi(APIView):
    """A 416 says which length the range missed (Content-Range: bytes */<size>), as RFC 9110 asks."""

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(exc, RangeNotSatisfiableError):
            response["Content-Range"] = f"bytes */{exc.size}"
        return response


def _streamed(request: Request, file: UploadedFile, *, action: str, actor_id: int | None = None) -> HttpResponseBase:
    """The file's bytes, logged; before they stream (minutes, for a multi-GB result) the files connection is closed
    where the request's end would close it anyway, since nothing after needs it."""
    response = file_response(request, file)
    byte_range = response.get("Content-Range", "")
    download_record(file_id=file.pk, actor_id=actor_id, action=action, byte_range=byte_range, request=request)
    connection_release(DB)
    return response


class FileDownloadApi(RangeApi):
    def get(self, request: Request, file_id: int) -> HttpResponseBase:
        caller = caller_of(request)
        file = file_get(caller=caller, file_id=file_id)
        _downloadable(file)
        result = getattr(file, "result", None)
        if not file.storage_key:
            if result is None or not result.source_url:
                raise ConflictError("This file's bytes are not stored here and it has no source link.")
            download_record(file_id=file.pk, actor_id=caller.user_id, action=REDIRECT, request=request)
            return HttpResponseRedirect(result.source_url)
        ttl = settings.FILES_SIGNED_URL_SECONDS
        presigned = storage_backend().signed_url(file.storage_key, filename=file.name, ttl=ttl)
        if presigned:
            download_record(file_id=file.pk, actor_id=caller.user_id, action=REDIRECT, request=request)
            return HttpResponseRedirect(presigned)
        return _streamed(request, file, action=DownloadLog.Action.DOWNLOAD, actor_id=caller.user_id)


class FileDownloadLinkApi(APIView):
    """A short-lived URL a browser can simply open (a link cannot carry the Authorization header)."""

    def get(self, request: Request, file_id: int) -> Response:
        caller = caller_of(request)
        file = file_get(caller=caller, file_id=file_id)
        _downloadable(file)
        if not file.storage_key:
            raise ConflictError("This file's bytes are not stored here; download it from /download/.")
        link = download_link_issue(file=file)
        download_record(file_id=file.pk, actor_id=caller.user_id, action=DownloadLog.Action.LINK, request=request)
        return Response({"url": link.url, "expires_at": link.expires_at}, headers={"Cache-Control": "no-store"})


class SignedDownloadApi(RangeApi):
    """GET /api/files/signed/<token>/: anonymous; the token is the proof (an anonymous prefix at the gateway)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request, token: str) -> HttpResponseBase:
        return _streamed(request, download_link_open(token=token), action=DownloadLog.Action.SIGNED)


class ZipPasswordApi(APIView):
    def get(self, request: Request, file_id: int) -> Response:
        caller = caller_of(request)
        file = file_get(caller=caller, file_id=file_id)
        password = zip_password_reveal(file=file, user_id=caller.user_id)
        download_record(file_id=file.pk, actor_id=caller.user_id, action=DownloadLog.Action.PASSWORD, request=request)
        return Response({"zip_password": password}, headers={"Cache-Control": "no-store"})
