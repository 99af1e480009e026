"""The registry's public interface: the in-process and the remote implementation pass the same tests.

Each test registers what it needs through the registry API of one target (in-process, or a real gateway in front
of real users and registry deployables) and then asks the public interface reading that registry's database.
"""

from __future__ import annotations

import uuid

import pytest

from apps.connectors.tests.recorded_server import RecordedServer
from apps.registry.impl import LocalRegistryService
from apps.registry.outbound import OutboundUrlError
from apps.registry.public import (
    PanelNotFoundError,
    RegistryService,
    RegistryUnavailableError,
    ServiceNotFoundError,
    ServiceRecord,
    connector_of,
)
from apps.registry.remote import RemoteRegistryService
from tests.contract.fixtures import UsersApi
from tests.servers import Server, free_port

pytestmark = [pytest.mark.django_db(databases=["registry", "users"]), pytest.mark.redis]


@pytest.fixture
def world(registry_api: UsersApi, request: pytest.FixtureRequest) -> tuple[UsersApi, RegistryService]:
    if registry_api.name == "app":
        return registry_api, LocalRegistryService()
    deployable: Server = request.getfixturevalue("registry_deployable")
    return registry_api, RemoteRegistryService(base_url=deployable.url)


def _register(api: UsersApi, **fields: object) -> dict[str, object]:
    slug = f"pub-{uuid.uuid4().hex[:10]}"
    body = {
        "name": f"Service {slug}",
        "slug": slug,
        "api_type": "cloudgene",
        "base_url": "http://127.0.0.1:9",
        "app_id": "imputationserver2",
        "limits": {"max_jobs": 3, "min_samples": 20, "max_samples": 25000, "downloads_per_file": 50},
        "supported_builds": ["hg38"],
        **fields,
    }
    created: dict[str, object] = api.ok("POST", "/api/services/", body)
    return created


def test_a_service_is_found_by_id_and_by_slug_with_its_limits(world: tuple[UsersApi, RegistryService]) -> None:
    api, registry = world
    created = _register(api)

    by_id = registry.service_get(id_or_slug=int(str(created["id"])))
    by_slug = registry.service_get(id_or_slug=str(created["slug"]))

    assert (
        by_id
        == by_slug
        == ServiceRecord(
            id=int(str(created["id"])),
            slug=str(created["slug"]),
            name=str(created["name"]),
            api_type="cloudgene",
            base_url="http://127.0.0.1:9",
            app_id="imputationserver2",
            is_active=True,
            requires_auth=True,
            health_status="unknown",
            supported_builds=("hg38",),
            supported_formats=("vcf.gz",),
            max_file_size_mb=None,
            max_jobs=3,
            min_samples=20,
            max_samples=25000,
            downloads_per_file=50,
            retention_days=None,
        )
    )


def test_a_deactivated_service_is_still_found(world: tuple[UsersApi, RegistryService]) -> None:
    api, registry = world
    created = _register(api)
    api.ok("DELETE", f"/api/services/{created['id']}/")

    assert registry.service_get(id_or_slug=str(created["slug"])).is_active is False


def test_an_unknown_service_or_panel_is_not_found(world: tuple[UsersApi, RegistryService]) -> None:
    api, registry = world
    created = _register(api)

    with pytest.raises(ServiceNotFoundError):
        registry.service_get(id_or_slug="no-such-service")
    with pytest.raises(PanelNotFoundError):
        registry.panel_get(service_id=int(str(created["id"])), id_or_slug="apps@nothing@1")


def test_an_unreachable_registry_deployable_is_unavailable() -> None:
    with pytest.raises(RegistryUnavailableError):
        RemoteRegistryService(base_url=f"http://127.0.0.1:{free_port()}", timeout=1).service_get(id_or_slug=1)


def test_connector_of_a_service_guards_the_outbound_url() -> None:
    record = ServiceRecord(
        id=1,
        slug="metadata",
        name="Metadata",
        api_type="wes",
        base_url="http://169.254.169.254",
        app_id="",
        is_active=True,
        requires_auth=True,
        health_status="unknown",
        supported_builds=(),
        supported_formats=(),
        max_file_size_mb=None,
        max_jobs=None,
        min_samples=None,
        max_samples=None,
        downloads_per_file=None,
        retention_days=None,
    )

    with pytest.raises(OutboundUrlError):
        connector_of(record)
    connector = connector_of(record.__class__(**{**record.__dict__, "base_url": "http://127.0.0.1:9"}))
    assert connector.health().status == "unhealthy"  # a real client: it tried, and nothing listens on port 9


def test_a_synced_panel_is_found_by_its_protocol_id_or_bare_id(
    world: tuple[UsersApi, RegistryService], recorded_server: RecordedServer
) -> None:
    api, registry = world
    created = _register(api, base_url=recorded_server.url)
    api.ok("POST", f"/api/services/{created['id']}/sync/")
    service_id = int(str(created["id"]))

    full = registry.panel_get(service_id=service_id, id_or_slug="apps@1000g-phase-3-v5@2.0.0")
    bare = registry.panel_get(service_id=service_id, id_or_slug="1000g-phase-3-v5")

    assert full == bare
    assert (full.slug, full.build, full.is_available) == ("apps@1000g-phase-3-v5@2.0.0", "hg19", True)
    assert full.populations == ("afr", "amr", "eas", "eur", "sas", "off")
