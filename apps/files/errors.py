"""Errors of the files context beyond the kernel's 400/404/409/503, each with the status HTTP (and tus) expects."""

from __future__ import annotations

from apps.kernel.errors import ApplicationError

FILE_NOT_FOUND = "No such file."  # also for another user's file: ids reveal nothing


class ForbiddenError(ApplicationError):
    status, code = 403, "AUTHORIZATION_ERROR"


class LengthRequiredError(ApplicationError):
    status, code = 411, "LENGTH_REQUIRED"


class PreconditionFailedError(ApplicationError):
    """tus: the client speaks a protocol version this server does not (answered with Tus-Version)."""

    status, code = 412, "PRECONDITION_FAILED"


class PayloadTooLargeError(ApplicationError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class QuotaExceededError(ApplicationError):
    """The upload would take the owner past their storage quota; refused before any byte is stored."""

    status, code = 413, "QUOTA_EXCEEDED"


class UnsupportedMediaTypeError(ApplicationError):
    status, code = 415, "UNSUPPORTED_MEDIA_TYPE"


class StorageFullError(ApplicationError):
    """The storage took no more bytes (a full disk, a quota of the filesystem's): the operators' problem, not the
    client's, and nothing of the request was kept, so it may be sent again later."""

    status, code = 507, "INSUFFICIENT_STORAGE"


class RangeNotSatisfiableError(ApplicationError):
    status, code = 416, "RANGE_NOT_SATISFIABLE"

    def __init__(self, size: int) -> None:
        super().__init__(f"The requested range lies outside the file's {size} bytes.")
        self.size = size
