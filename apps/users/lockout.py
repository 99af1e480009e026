"""Login lockout (django-axes) answered in the API's own terms: 429 RATE_LIMIT_EXCEEDED with Retry-After.

Axes counts failures per username + client address; after AXES_FAILURE_LIMIT of them within the cool-off it
refuses that pair for AXES_COOLOFF_TIME. Each refused attempt restarts the cool-off (axes' default), so the
whole cool-off is exactly what the caller has to wait.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.kernel.errors import error_body

LOCKOUT_MESSAGE = "Too many failed login attempts; try again after the time in Retry-After."


def lockout_retry_after_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: what AxesMiddleware answers for a request axes flagged as locked out."""
    response = JsonResponse(error_body(code="RATE_LIMIT_EXCEEDED", message=LOCKOUT_MESSAGE), status=429)
    response["Retry-After"] = str(lockout_retry_after_seconds())
    return response
