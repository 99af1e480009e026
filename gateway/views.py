"""The web UI's entry page for client-side routes, and the API error envelope for Django-level errors."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from apps.kernel.errors import error_response


@require_GET
def spa_index(request: HttpRequest) -> HttpResponse:
    """Any non-API path is a page of the single-page app: serve its index and let the router take over."""
    index = settings.FRONTEND_DIST / "index.html"
    if not index.is_file():
        return HttpResponse(
            "The web UI is not built yet: run `make run` (or `npm run build` in frontend/).",
            status=503,
            content_type="text/plain",
        )
    return HttpResponse(index.read_bytes(), content_type="text/html; charset=utf-8")


def not_found(request: HttpRequest, exception: Exception) -> JsonResponse:
    return error_response(request, 404, "Not found.")


def server_error(request: HttpRequest) -> JsonResponse:
    return error_response(request, 500, "Internal server error.")
