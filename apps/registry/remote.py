"""The registry's public interface over HTTP, for deployables that do not host the registry."""

from __future__ import annotations

from apps.kernel.internal_http import InternalClient
from apps.registry import public

ERRORS: dict[str, type[Exception]] = {
    "SERVICE_NOT_FOUND": public.ServiceNotFoundError,
    "PANEL_NOT_FOUND": public.PanelNotFoundError,
}


class RemoteRegistryService(public.RegistryService):
    def __init__(self, *, base_url: str, timeout: float = 5.0) -> None:
        self.client = InternalClient(
            base_url=base_url,
            audience="registry",
            errors=ERRORS,
            unavailable=public.RegistryUnavailableError,
            timeout=timeout,
        )

    def service_get(self, *, id_or_slug: int | str) -> public.ServiceRecord:
        body = self.client.call("GET", f"/internal/registry/services/{id_or_slug}/")
        return public.ServiceRecord(
            **{
                **body,
                "supported_builds": tuple(body["supported_builds"]),
                "supported_formats": tuple(body["supported_formats"]),
            }
        )

    def panel_get(self, *, service_id: int, id_or_slug: int | str) -> public.PanelRecord:
        body = self.client.call("GET", f"/internal/registry/services/{service_id}/panels/{id_or_slug}/")
        return public.PanelRecord(**{**body, "populations": tuple(body["populations"])})
