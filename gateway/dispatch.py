"""Choosing the target of a routed request: sticky canary buckets and the in-process URLconf of each target."""

from __future__ import annotations

import hashlib
import types
from functools import lru_cache

from django.conf import settings
from django.urls import include, path

from gateway.routes import Route


def canary_bucket(key: str, domain: str) -> float:
    """A stable number in [0, 100) per caller and domain: the same user always lands on the same side."""
    digest = hashlib.blake2b(f"{domain}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000 / 100


def target_choose(route: Route, caller_key: str) -> str:
    """The route's target, or its canary target for the configured share of callers."""
    if route.canary and canary_bucket(caller_key, route.domain) < route.canary.percent:
        return route.canary.target
    return route.target


def urlconf_name(domain: str, target: str) -> str:
    if target == "legacy":
        return str(settings.GATEWAY_LEGACY_URLCONF)
    return str(settings.GATEWAY_APP_URLCONFS.get(domain, f"apps.{domain}.api.urls"))


@lru_cache(maxsize=64)
def _urlconf_module(name: str) -> types.ModuleType:
    module = types.ModuleType(f"gateway.urlconf[{name}]")
    module.urlpatterns = [path("", include(name))]  # type: ignore[attr-defined]
    module.handler404 = "gateway.views.not_found"  # type: ignore[attr-defined]
    module.handler500 = "gateway.views.server_error"  # type: ignore[attr-defined]
    return module


def target_urlconf(domain: str, target: str) -> types.ModuleType:
    """The URLconf the request is resolved against in-process; errors keep the API's JSON envelope."""
    return _urlconf_module(urlconf_name(domain, target))
