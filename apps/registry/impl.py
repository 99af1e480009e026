"""The in-process implementation of the registry's public interface (apps/registry/public.py)."""

from __future__ import annotations

from apps.kernel.errors import NotFoundError
from apps.registry import public
from apps.registry.models import ImputationService, ReferencePanel
from apps.registry.selectors.services import panel_get, service_get


def service_record_of(service: ImputationService) -> public.ServiceRecord:
    return public.ServiceRecord(
        id=service.pk,
        slug=service.slug,
        name=service.name,
        api_type=service.api_type,
        base_url=service.base_url,
        app_id=service.app_id,
        is_active=service.is_active,
        requires_auth=service.requires_auth,
        health_status=service.health_status,
        supported_builds=tuple(service.supported_builds),
        supported_formats=tuple(service.supported_formats),
        max_file_size_mb=service.max_file_size_mb,
        max_jobs=service.max_jobs,
        min_samples=service.min_samples,
        max_samples=service.max_samples,
        downloads_per_file=service.downloads_per_file,
        retention_days=service.retention_days,
    )


def panel_record_of(panel: ReferencePanel) -> public.PanelRecord:
    return public.PanelRecord(
        id=panel.pk,
        service_id=panel.service_id,
        slug=panel.slug,
        name=panel.name,
        build=panel.build,
        populations=tuple(panel.populations),
        is_available=panel.is_available,
    )


class LocalRegistryService(public.RegistryService):
    def service_get(self, *, id_or_slug: int | str) -> public.ServiceRecord:
        try:
            return service_record_of(service_get(id_or_slug=id_or_slug))
        except NotFoundError as exc:
            raise public.ServiceNotFoundError(f"no service {id_or_slug!r}") from exc

    def panel_get(self, *, service_id: int, id_or_slug: int | str) -> public.PanelRecord:
        try:
            return panel_record_of(panel_get(service_id=service_id, id_or_slug=id_or_slug))
        except NotFoundError as exc:
            raise public.PanelNotFoundError(f"no panel {id_or_slug!r} on service {service_id}") from exc
