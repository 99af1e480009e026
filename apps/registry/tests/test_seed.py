"""`manage.py registry_seed`: the public services, registered once and updated in place on a second run."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from apps.registry.models import ImputationService, ReferencePanel

pytestmark = pytest.mark.django_db(databases=["registry"])


def test_seeding_twice_registers_each_public_service_once() -> None:
    first, second = StringIO(), StringIO()

    call_command("registry_seed", stdout=first)
    call_command("registry_seed", stdout=second)

    services = {service.slug: service for service in ImputationService.objects.all()}
    assert sorted(services) == ["afrigen-d-fedimpute", "michigan", "topmed"]
    assert services["michigan"].base_url == "https://imputationserver.sph.umich.edu"
    assert services["afrigen-d-fedimpute"].base_url == "https://fedimpute.afrigen-d.org/ga4gh/wes/v1"
    assert all("Needs your own API token" in service.description for service in services.values())
    assert (services["topmed"].max_jobs, services["topmed"].max_samples) == (3, 25_000)
    assert list(ReferencePanel.objects.filter(service=services["topmed"]).values_list("slug", "build")) == [
        ("apps@topmed-r3@1.0.0", "hg38")
    ]
    assert first.getvalue().count("registered") == 3
    assert second.getvalue().count("updated") == 3
