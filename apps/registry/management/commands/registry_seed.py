"""Register the public imputation services the platform knows (idempotent: re-running updates them).

Each needs the user's own API token (Settings -> service credentials); panels listed here are the ones whose
protocol keys are published, and `POST /api/services/<slug>/sync/` pulls the full, current list.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from apps.registry.models import DB, ImputationService, ReferencePanel
from apps.registry.services.services import service_create, service_update

CREDENTIAL_NOTE = " Needs your own API token from this service (add it under Settings -> service credentials)."

SERVICES: list[dict[str, Any]] = [
    {
        "fields": {
            "name": "Michigan Imputation Server 2",
            "slug": "michigan",
            "api_type": "cloudgene",
            "base_url": "https://imputationserver.sph.umich.edu",
            "app_id": "imputationserver2",
            "description": "Genotype imputation with Minimac4 on Cloudgene 3 (University of Michigan)."
            + CREDENTIAL_NOTE,
            "country": "US",
            "city": "Ann Arbor",
            "institution": "University of Michigan",
            "latitude": 42.2808,
            "longitude": -83.743,
            "supported_builds": ["hg19", "hg38"],
            "max_jobs": 2,
            "min_samples": 20,
            "max_samples": 50_000,
            "downloads_per_file": 40,
            "retention_days": 7,
            "max_file_size_mb": 5000,
        },
        "panels": [
            {"slug": "apps@1000g-phase-3-v5@2.0.0", "name": "1000 Genomes Phase 3 (Version 5)", "build": "hg19"},
        ],
    },
    {
        "fields": {
            "name": "TOPMed Imputation Server",
            "slug": "topmed",
            "api_type": "cloudgene",
            "base_url": "https://imputation.biodatacatalyst.nhlbi.nih.gov",
            "app_id": "imputationserver2",
            "description": "Imputation against the TOPMed r3 panel (NHLBI BioData Catalyst)." + CREDENTIAL_NOTE,
            "country": "US",
            "city": "Ann Arbor",
            "institution": "University of Michigan / NHLBI BioData Catalyst",
            "latitude": 42.2808,
            "longitude": -83.743,
            "supported_builds": ["hg19", "hg38"],
            "max_jobs": 3,
            "min_samples": 20,
            "max_samples": 25_000,
            "downloads_per_file": 50,
            "retention_days": 7,
        },
        "panels": [{"slug": "apps@topmed-r3@1.0.0", "name": "TOPMed r3", "build": "hg38"}],
    },
    {
        "fields": {
            "name": "FedImpute (AfriGen-D / H3Africa)",
            "slug": "afrigen-d-fedimpute",
            "api_type": "wes",
            "base_url": "https://fedimpute.afrigen-d.org/ga4gh/wes/v1",
            "description": "GA4GH WES front routing to H3Africa imputation nodes (eLwazi and partners)."
            + CREDENTIAL_NOTE,
            "country": "ZA",
            "city": "Cape Town",
            "institution": "AfriGen-D / University of Cape Town",
            "latitude": -33.9249,
            "longitude": 18.4241,
            "supported_builds": ["hg19", "hg38"],
            "retention_days": 7,
        },
        "panels": [],
    },
]


class Command(BaseCommand):
    help = "Register (or update) the public imputation services and their published panels."

    def handle(self, *args: Any, **options: Any) -> None:
        for entry in SERVICES:
            fields = entry["fields"]
            existing = ImputationService.objects.using(DB).filter(slug=fields["slug"]).first()
            if existing is None:
                service = service_create(actor_id=None, fields=fields)
                verb = "registered"
            else:
                service = service_update(actor_id=None, service_id=existing.pk, fields=fields)
                verb = "updated"
            with transaction.atomic(using=DB):
                for panel in entry["panels"]:
                    ReferencePanel.objects.using(DB).update_or_create(
                        service=service, slug=panel["slug"], defaults={"name": panel["name"], "build": panel["build"]}
                    )
            self.stdout.write(f"{verb} {service.slug} ({service.base_url}) with {len(entry['panels'])} known panel(s)")
