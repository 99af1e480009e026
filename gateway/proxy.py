"""Remote dispatch: the streaming reverse proxy to an extracted deployable (being written)."""

from django.http import HttpRequest, HttpResponseBase

from gateway.edge import Identity
from gateway.routes import Route


async def proxy_request(request: HttpRequest, route: Route, *, identity: Identity) -> HttpResponseBase:
    raise NotImplementedError("remote targets are not available yet")
