"""The API error envelope of API_CONTRACT.md: `{"error": {"code", "message", "details"?}, "request_id"}`."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from apps.kernel.request_id import request_id_get

logger = logging.getLogger(__name__)

CODE_BY_STATUS = {
    400: "VALIDATION_ERROR",
    401: "AUTHENTICATION_ERROR",
    403: "AUTHORIZATION_ERROR",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


class ApplicationError(Exception):
    """A failure a caller can act on; contexts raise subclasses and the API renders them as the envelope."""

    status = 400
    code = "VALIDATION_ERROR"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFoundError(ApplicationError):
    status, code = 404, "NOT_FOUND"


class ConflictError(ApplicationError):
    status, code = 409, "CONFLICT"


class ServiceUnavailableError(ApplicationError):
    status, code = 503, "SERVICE_UNAVAILABLE"


def error_body(*, code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error, "request_id": request_id_get()}


def _drf_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _drf_message(detail[0])
    if isinstance(detail, dict):
        return "Invalid input."
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every error leaves the API in the one envelope, never as an HTML page."""
    if isinstance(exc, ApplicationError):
        return Response(error_body(code=exc.code, message=exc.message, details=exc.details), status=exc.status)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if isinstance(exc, drf.APIException):
        status = exc.status_code
        code = CODE_BY_STATUS.get(status, str(exc.default_code).upper())
        details = exc.detail if isinstance(exc, drf.ValidationError) else None
        response = Response(error_body(code=code, message=_drf_message(exc.detail), details=details), status=status)
        wait = getattr(exc, "wait", None)  # DRF has already rounded it up to whole seconds
        if isinstance(exc, drf.Throttled) and wait is not None:
            response["Retry-After"] = str(int(wait))
        auth_header = getattr(exc, "auth_header", None)  # the view's authenticator's scheme, set by DRF on 401
        if auth_header:
            response["WWW-Authenticate"] = auth_header
        return response
    logger.exception("unhandled error in %s", context.get("view").__class__.__name__)
    return Response(error_body(code="INTERNAL_ERROR", message="Internal server error."), status=500)


def error_response(request: HttpRequest, status: int, message: str) -> JsonResponse:
    """The same envelope for errors raised outside DRF views (Django's handler404/handler500)."""
    return JsonResponse(error_body(code=CODE_BY_STATUS.get(status, "INTERNAL_ERROR"), message=message), status=status)
