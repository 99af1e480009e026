"""Panel sync: the service's own list of reference panels and populations, pulled and upserted by slug.

Panels the remote no longer lists are marked unavailable, never deleted: jobs and templates may still name them,
and a panel that comes back is simply available again.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from apps.connectors.base import Timeouts, connector_for
from apps.connectors.errors import ConnectorError, UnsupportedProtocolError
from apps.kernel.errors import ApplicationError, ServiceUnavailableError
from apps.registry.models import DB, ImputationService, ReferencePanel
from apps.registry.outbound import outbound_url_check
from apps.registry.services.services import registry_action_record


@dataclass(frozen=True)
class SyncResult:
    created: list[str]
    updated: list[str]
    unavailable: list[str]


def service_panels_sync(*, actor_id: int | None, service: ImputationService, token: str | None = None) -> SyncResult:
    outbound_url_check(service.base_url)
    try:
        connector = connector_for(
            api_type=service.api_type, base_url=service.base_url, app_id=service.app_id, timeouts=Timeouts()
        )
    except UnsupportedProtocolError as exc:
        raise ApplicationError(f"Panels of a {service.api_type} service cannot be synced automatically.") from exc
    try:
        remote = connector.list_panels(token=token)
    except ConnectorError as exc:
        raise ServiceUnavailableError(f"{service.name} did not list its panels: {exc}") from exc
    finally:
        connector.close()
    now = timezone.now()
    created, updated = [], []
    with transaction.atomic(using=DB):
        existing = {
            panel.slug: panel for panel in ReferencePanel.objects.using(DB).select_for_update().filter(service=service)
        }
        for info in remote:
            fields = {
                "name": info.name,
                "description": info.description,
                "build": info.build,
                "populations": list(info.populations),
                "samples_count": info.samples_count,
                "variants_count": info.variants_count,
                "is_available": True,
                "synced_at": now,
            }
            panel = existing.pop(info.slug, None)
            if panel is None:
                ReferencePanel.objects.using(DB).create(service=service, slug=info.slug, **fields)
                created.append(info.slug)
                continue
            for name, value in fields.items():
                setattr(panel, name, value)
            panel.save(using=DB)
            updated.append(info.slug)
        gone = [panel.slug for panel in existing.values() if panel.is_available]
        ReferencePanel.objects.using(DB).filter(service=service, slug__in=gone).update(is_available=False)
        service.panels_synced_at = now
        service.save(using=DB, update_fields=["panels_synced_at", "updated_at"])
        registry_action_record(
            action="panels_synced",
            actor_id=actor_id,
            service=service,
            created=len(created),
            updated=len(updated),
            unavailable=len(gone),
        )
    return SyncResult(created=created, updated=updated, unavailable=gone)
