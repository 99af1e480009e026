"""`manage.py registry_local_node`: the reference node as two services with their panels, idempotently.

The node is played by the connectors' recorded-payload server (Cloudgene at its root, WES under /ga4gh/wes/v1),
which is how the node's two fronts look to the registry.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.connectors.tests.recorded_server import RecordedServer
from apps.registry.models import ImputationService, OutboxEvent, ReferencePanel
from tests.servers import free_port

pytestmark = pytest.mark.django_db(databases=["registry"])


def _panels(slug: str) -> list[tuple[str, str, bool]]:
    return list(
        ReferencePanel.objects.filter(service__slug=slug).order_by("slug").values_list("slug", "build", "is_available")
    )


def test_the_node_is_registered_once_as_a_cloudgene_and_a_wes_service_with_their_panels(
    recorded_server: RecordedServer,
) -> None:
    first, second = StringIO(), StringIO()

    call_command("registry_local_node", "--url", recorded_server.url + "/", stdout=first)
    panels_after_first = {slug: _panels(slug) for slug in ("local-node-cloudgene", "local-node-wes")}
    changes_after_first = OutboxEvent.objects.filter(payload__action__in=["service_created", "service_updated"]).count()
    call_command("registry_local_node", "--url", recorded_server.url, stdout=second)

    services = {service.slug: service for service in ImputationService.objects.all()}
    assert sorted(services) == ["local-node-cloudgene", "local-node-wes"]
    assert (services["local-node-cloudgene"].api_type, services["local-node-cloudgene"].base_url) == (
        "cloudgene",
        recorded_server.url,
    )
    assert (services["local-node-wes"].api_type, services["local-node-wes"].base_url) == (
        "wes",
        recorded_server.wes_url,
    )
    assert all(service.health_status == "healthy" for service in services.values())
    assert all(panels and all(available for _, _, available in panels) for panels in panels_after_first.values())
    assert {slug: _panels(slug) for slug in panels_after_first} == panels_after_first
    assert OutboxEvent.objects.filter(payload__action__in=["service_created", "service_updated"]).count() == 2
    assert changes_after_first == 2
    assert first.getvalue().count("registered at") == 2
    assert second.getvalue().count("up to date at") == 2


def test_a_node_that_does_not_answer_is_registered_and_the_missing_sync_is_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}/node"

    with pytest.raises(CommandError, match="did not answer; its panels were not synced"):
        call_command("registry_local_node", "--url", url, "--wait", "0", stdout=StringIO())

    assert sorted(ImputationService.objects.values_list("slug", "base_url")) == [
        ("local-node-cloudgene", url),
        ("local-node-wes", url + "/ga4gh/wes/v1"),
    ]
    assert ReferencePanel.objects.count() == 0
