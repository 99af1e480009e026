"""Register the platform's own reference node as two services, one per API it speaks, and sync their panels.

`make run` starts this beside the web server (the node answers under /node/ there): it registers, or brings up to
date, `local-node-cloudgene` (api_type cloudgene, the node's root) and `local-node-wes` (api_type wes, its
/ga4gh/wes/v1 base) through the registry's services, waits for the node to answer, then syncs each one's panels
through the connectors and probes its health, as for any remote service. Running it again changes nothing that is
already right. The node itself is never imported: the registry meets it over HTTP only.
"""

from __future__ import annotations

import os
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.connectors.base import Timeouts, connector_for
from apps.kernel.errors import ApplicationError
from apps.registry.models import DB, ImputationService
from apps.registry.services.health import services_health_check
from apps.registry.services.panels import service_panels_sync
from apps.registry.services.services import service_create, service_update, service_url_normalize

WES_PATH = "/ga4gh/wes/v1"
DESCRIPTION = (
    "The platform's own reference imputation node: quality control, phasing and imputation with Beagle 5 against "
    "simulated demo panels, for trying the platform offline. Its API token comes from "
    "`python manage.py node_token <username>`."
)


def service_fields(url: str) -> list[dict[str, Any]]:
    """The two registrations of the node at `url` (its root), with the limits the node enforces."""
    common = {
        "description": DESCRIPTION,
        "institution": "This platform (reference node)",
        "requires_auth": True,
        "supported_builds": ["hg19", "hg38"],
        "max_jobs": settings.NODE_MAX_JOBS_PER_USER,
        "max_file_size_mb": settings.NODE_UPLOAD_LIMIT_MB,
        "downloads_per_file": settings.NODE_MAX_DOWNLOADS,
        "retention_days": settings.NODE_RETIRE_AFTER_DAYS,
        "is_active": True,
    }
    return [
        {
            **common,
            "name": "Reference node (Cloudgene API)",
            "slug": "local-node-cloudgene",
            "api_type": "cloudgene",
            "base_url": url,
            "app_id": "imputationserver2",
        },
        {
            **common,
            "name": "Reference node (GA4GH WES)",
            "slug": "local-node-wes",
            "api_type": "wes",
            "base_url": url + WES_PATH,
            "app_id": "",
        },
    ]


class Command(BaseCommand):
    help = "Register (or update) the local reference node as a Cloudgene and a WES service and sync their panels."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url",
            default=os.environ.get("NODE_URL", "http://127.0.0.1:8000/node"),
            help="the node's root URL (default: NODE_URL, else the embedded mount http://127.0.0.1:8000/node)",
        )
        parser.add_argument("--wait", type=float, default=0.0, help="seconds to wait for the node to answer")

    def handle(self, *args: Any, **options: Any) -> None:
        url = str(options["url"]).rstrip("/")
        services = [self._register(fields) for fields in service_fields(url)]
        if not self._answers(url, wait=options["wait"]):
            raise CommandError(f"The node at {url} did not answer; its panels were not synced (run this again).")
        failed = []
        for service in services:
            try:
                result = service_panels_sync(actor_id=None, service=service)
            except ApplicationError as exc:
                failed.append(service.slug)
                self.stderr.write(f"{service.slug}: panels not synced: {exc}")
                continue
            panels = sorted(result.created + result.updated)
            self.stdout.write(f"{service.slug}: {len(panels)} panel(s) synced: {', '.join(panels)}")
        for check in services_health_check(services=services):
            self.stdout.write(f"{check.service.slug}: {check.status}: {check.message}")
        if failed:
            raise CommandError(f"Panels of {', '.join(failed)} could not be synced; see above.")

    def _register(self, fields: dict[str, Any]) -> ImputationService:
        existing = ImputationService.objects.using(DB).filter(slug=fields["slug"]).first()
        if existing is None:
            service = service_create(actor_id=None, fields=fields)
            self.stdout.write(f"{service.slug}: registered at {service.base_url}")
            return service
        wanted = {**fields, "base_url": service_url_normalize(api_type=fields["api_type"], base_url=fields["base_url"])}
        changed = {name: value for name, value in wanted.items() if getattr(existing, name) != value}
        if not changed:
            self.stdout.write(f"{existing.slug}: up to date at {existing.base_url}")
            return existing
        service = service_update(actor_id=None, service_id=existing.pk, fields=changed)
        self.stdout.write(f"{service.slug}: updated ({', '.join(sorted(changed))}) at {service.base_url}")
        return service

    def _answers(self, url: str, *, wait: float) -> bool:
        """True once the node's Cloudgene root answers at all (any HTTP status), polling for up to `wait` s."""
        deadline = time.monotonic() + wait
        with connector_for(api_type="cloudgene", base_url=url, timeouts=Timeouts(connect=2.0, read=10.0)) as node:
            while True:
                if node.health().response_time_ms is not None:
                    return True
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.5)
