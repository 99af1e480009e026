"""Health checks and panel sync against real HTTP on loopback (the connectors' recorded-payload server).

A hanging service is marked `timeout` within its read timeout while the others are checked alongside it;
`service.health.changed` is written once per transition; panel sync upserts by slug and marks vanished panels
unavailable.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.connectors.tests import payloads
from apps.connectors.tests.recorded_server import RecordedServer
from apps.registry.models import HealthCheck, ImputationService, OutboxEvent, ReferencePanel
from apps.registry.services.health import health_maintenance, services_health_check, services_health_check_due
from apps.registry.tests.factories import UsersStub, service_make

pytestmark = pytest.mark.django_db(databases=["registry"])


def _transitions() -> list[tuple[str, str]]:
    return [
        (event.payload["previous"], event.payload["status"])
        for event in OutboxEvent.objects.using("registry").filter(topic="service.health.changed").order_by("seq")
    ]


def test_a_healthy_service_is_recorded_with_its_latency_and_server_info(recorded_server: RecordedServer) -> None:
    service = service_make(base_url=recorded_server.url)

    [check] = services_health_check(services=[service])

    service.refresh_from_db()
    assert (check.status, service.health_status) == ("healthy", "healthy")
    assert service.health_response_time_ms is not None and service.health_response_time_ms < 2000
    assert service.server_info["name"] == payloads.server_info(username=None, maintenance=False)["name"]
    assert service.next_health_check_at is not None and service.next_health_check_at > timezone.now()


def test_each_transition_is_announced_exactly_once(recorded_server: RecordedServer) -> None:
    service = service_make(base_url=recorded_server.url)

    services_health_check(services=[service])
    services_health_check(services=[service])
    recorded_server.fail("/api/v2/server", status=503)
    services_health_check(services=[service])
    services_health_check(services=[service])

    assert _transitions() == [("unknown", "healthy"), ("healthy", "unhealthy")]
    assert HealthCheck.objects.filter(service=service).count() == 4
    event = OutboxEvent.objects.using("registry").filter(topic="service.health.changed").latest("seq")
    assert (event.payload["service_id"], event.payload["slug"]) == (service.pk, service.slug)


def test_maintenance_mode_is_unhealthy_with_the_servers_message(recorded_server: RecordedServer) -> None:
    recorded_server.scenario.maintenance = True
    service = service_make(base_url=recorded_server.url)

    [check] = services_health_check(services=[service])

    assert check.status == "unhealthy"
    assert "maintenance" in check.message.lower()


def test_a_hanging_service_times_out_without_delaying_the_others(
    settings: Any, recorded_server: RecordedServer
) -> None:
    settings.REGISTRY_HEALTH_READ_TIMEOUT = 0.5
    other = RecordedServer.start()
    try:
        recorded_server.hang("/api/v2/server", seconds=5)
        hanging = service_make(name="Hanging", base_url=recorded_server.url)
        healthy = [service_make(name=f"Healthy {n}", base_url=other.url) for n in range(3)]

        started = time.monotonic()
        checks = services_health_check(services=[hanging, *healthy])
        elapsed = time.monotonic() - started
    finally:
        other.stop()

    assert {check.service_id: check.status for check in checks} == {
        hanging.pk: "timeout",
        **{service.pk: "healthy" for service in healthy},
    }
    assert elapsed < 3  # the 5 s hang is cut at the 0.5 s read timeout; the others ran alongside


def test_only_due_services_are_checked_and_each_once(recorded_server: RecordedServer) -> None:
    due = service_make(name="Due", base_url=recorded_server.url)
    later = service_make(name="Later", base_url=recorded_server.url)
    ImputationService.objects.filter(pk=later.pk).update(next_health_check_at=timezone.now() + timedelta(hours=1))

    first = services_health_check_due()
    second = services_health_check_due()

    assert [check.service_id for check in first] == [due.pk]
    assert second == []


def test_maintenance_prunes_old_history_and_can_deactivate_services_down_for_days(settings: Any) -> None:
    settings.REGISTRY_DEACTIVATE_AT_RISK = True
    down = service_make(name="Down")
    up = service_make(name="Up")
    long_ago = timezone.now() - timedelta(days=40)
    HealthCheck.objects.create(service=up, status="healthy", checked_at=long_ago)
    HealthCheck.objects.create(service=up, status="healthy", checked_at=timezone.now())
    ImputationService.objects.filter(pk=down.pk).update(
        health_status="unhealthy", unhealthy_since=timezone.now() - timedelta(days=4)
    )

    pruned, deactivated = health_maintenance()

    assert (pruned, deactivated) == (1, 1)
    assert ImputationService.objects.get(pk=down.pk).is_active is False
    assert ImputationService.objects.get(pk=up.pk).is_active is True


def test_sync_upserts_panels_with_their_populations(recorded_server: RecordedServer, users: UsersStub) -> None:
    service = service_make(base_url=recorded_server.url)

    response = Client().post(f"/api/services/{service.slug}/sync/", headers=users.caller("service_admin"))

    body = response.json()
    assert response.status_code == 200
    expected = [panel.key for panel in payloads.PANELS]
    assert sorted(body["created"]) == sorted(expected)
    assert (body["updated"], body["unavailable"]) == ([], [])
    first = payloads.PANELS[0]
    stored = ReferencePanel.objects.get(service=service, slug=first.key)
    assert stored.populations == [key for key, _ in first.populations]
    assert stored.is_available


def test_a_panel_the_service_stopped_listing_becomes_unavailable(
    recorded_server: RecordedServer, users: UsersStub
) -> None:
    service = service_make(base_url=recorded_server.url)
    headers = users.caller("admin")
    Client().post(f"/api/services/{service.slug}/sync/", headers=headers)
    kept = payloads.PANELS[:1]
    recorded_server.fail("/api/v2/server/apps/*", status=200, body=payloads.app_form(panels=kept))

    body = json.loads(Client().post(f"/api/services/{service.slug}/sync/", headers=headers).content)

    gone = [panel.key for panel in payloads.PANELS[1:]]
    assert (body["created"], body["updated"], sorted(body["unavailable"])) == ([], [kept[0].key], sorted(gone))
    assert not ReferencePanel.objects.filter(slug__in=gone, is_available=True).exists()
    listed = json.loads(Client().get(f"/api/reference-panels/?service={service.slug}").content)
    assert {panel["slug"]: panel["is_available"] for panel in listed["results"]} == {
        kept[0].key: True,
        **dict.fromkeys(gone, False),
    }


def test_sync_of_an_unreachable_service_is_503_and_changes_nothing(users: UsersStub) -> None:
    service = service_make(base_url="http://127.0.0.1:9")

    response = Client().post(f"/api/services/{service.slug}/sync/", headers=users.caller("admin"))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert not ReferencePanel.objects.exists()


def test_sync_needs_manage_services(recorded_server: RecordedServer, users: UsersStub) -> None:
    service = service_make(base_url=recorded_server.url)

    response = Client().post(f"/api/services/{service.slug}/sync/", headers=users.caller("researcher"))

    assert response.status_code == 403
    assert not ReferencePanel.objects.exists()
