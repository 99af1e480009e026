"""ASGI entry point (served by config.serve): HTTP through Django, WebSockets through Channels with origin checks.

HTTP goes through Django's ASGI handler, extended so that a view may take its request body while it arrives
instead of after Django has spooled it (apps/files/api/asgi.py: the tus PATCH). That only happens for requests
this process serves itself: on the gateway, a path whose route may send it to a remote deployable (its target or
its canary) keeps the spooled body the proxy reads. Such streamed requests take the data plane
(config/data_plane.py) rather than Django's asynchronous request cycle.
"""

import os
from types import ModuleType

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
django.setup(set_prefix=False)  # before importing consumers and handlers, which need the app registry

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from apps.files.api.asgi import BodyStreamingHandler  # noqa: E402
from apps.notifications.routing import websocket_urlpatterns as notifications_sockets  # noqa: E402
from config.data_plane import data_plane  # noqa: E402
from gateway.dispatch import target_urlconf  # noqa: E402
from gateway.routes import route_table  # noqa: E402

IN_PROCESS = frozenset({"app", "legacy"})


def in_process_urlconf(path: str) -> str | ModuleType | None:
    """The URLconf that will serve `path` in this process, or None when the gateway may proxy it elsewhere."""
    if not settings.IS_GATEWAY:
        return str(settings.ROOT_URLCONF)
    route = route_table().match(path)
    if route is None:
        return str(settings.ROOT_URLCONF)
    targets = {route.target, *([route.canary.target] if route.canary else [])}
    if len(targets) != 1 or not targets <= IN_PROCESS:
        return None
    return target_urlconf(route.domain, targets.pop())


django_asgi_app = BodyStreamingHandler(
    urlconf_of=in_process_urlconf,
    idle_timeout=settings.FILES_TUS_BODY_IDLE_SECONDS,
)

websocket_urlpatterns = [*notifications_sockets]

application = ProtocolTypeRouter(
    {
        "http": data_plane(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
