"""The registry's public interface over HTTP for other deployables (apps/registry/remote.py calls these).

Mounted under /internal/registry/ on the registry deployable; the gateway routes no /internal/ prefix, and each
call must carry an internal service token addressed to `registry`.
"""

from __future__ import annotations

from dataclasses import asdict

from rest_framework.request import Request
from rest_framework.response import Response

from apps.kernel.internal_http import InternalApi
from apps.registry import public
from apps.registry.impl import LocalRegistryService


class RegistryInternalApi(InternalApi):
    public_errors = {
        public.ServiceNotFoundError: (404, "SERVICE_NOT_FOUND"),
        public.PanelNotFoundError: (404, "PANEL_NOT_FOUND"),
    }


class ServiceRecordApi(RegistryInternalApi):
    def get(self, request: Request, key: str) -> Response:
        return Response(asdict(LocalRegistryService().service_get(id_or_slug=key)))


class PanelRecordApi(RegistryInternalApi):
    def get(self, request: Request, service_id: int, key: str) -> Response:
        return Response(asdict(LocalRegistryService().panel_get(service_id=service_id, id_or_slug=key)))
