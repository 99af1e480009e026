"""Shadow traffic: mirror safe requests to a second target and diff the JSON (being written)."""

from collections.abc import Awaitable, Callable

from django.http import HttpRequest, HttpResponseBase

from gateway.routes import Route


def shadow_schedule(
    request: HttpRequest,
    route: Route,
    *,
    primary_target: str,
    primary: HttpResponseBase,
    get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]],
) -> None:
    """Start the mirrored request in the background; never delays or changes the primary response."""
