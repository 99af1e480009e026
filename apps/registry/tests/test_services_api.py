"""The registry's service endpoints: open reads, writes for service managers only, deactivation rules."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from apps.kernel.envelope import JOB_STATUS_UPDATED, Envelope
from apps.registry.consumers import service_jobs_project
from apps.registry.models import ImputationService, OutboxEvent
from apps.registry.tests.factories import UsersStub, service_make

pytestmark = [pytest.mark.django_db(databases=["registry"]), pytest.mark.redis]

SERVICE_KEYS = {
    "id",
    "name",
    "slug",
    "api_type",
    "base_url",
    "description",
    "location",
    "requires_auth",
    "max_file_size_mb",
    "supported_formats",
    "supported_builds",
    "limits",
    "is_active",
    "health",
    "panel_count",
}
DETAIL_KEYS = SERVICE_KEYS | {
    "app_id",
    "health_check_interval_seconds",
    "at_risk",
    "server_info",
    "server_info_at",
    "panels_synced_at",
}
NEW_SERVICE = {
    "name": "Cape Town node",
    "slug": "cape-town",
    "api_type": "wes",
    "base_url": "HTTPS://Node.Example.ORG/ga4gh/wes/v1/",
    "location": {"country": "ZA", "city": "Cape Town", "institution": "UCT", "lat": -33.92, "lon": 18.42},
    "limits": {"max_jobs": 3, "min_samples": 20, "max_samples": 25000, "downloads_per_file": 10, "retention_days": 7},
    "supported_builds": ["hg38"],
}


def _send(method: str, path: str, body: Any = None, **headers: str) -> Any:
    data = json.dumps(body) if body is not None else ""
    return Client().generic(method, path, data, content_type="application/json", headers=headers)


def _job_event(service_id: int, status: str, job_id: str = "") -> Envelope:
    return Envelope(
        type=JOB_STATUS_UPDATED,
        source="jobs",
        aggregate_id=job_id or uuid.uuid4().hex,
        payload={"job_id": job_id or uuid.uuid4().hex, "service_id": service_id, "status": status},
    )


def test_anonymous_callers_list_active_services_only() -> None:
    active = service_make(name="Alpha")
    service_make(name="Beta", is_active=False)

    body = _send("GET", "/api/services/").json()

    assert [service["id"] for service in body["results"]] == [active.pk]
    assert set(body["results"][0]) == SERVICE_KEYS
    assert body["results"][0]["health"] == {
        "status": "unknown",
        "checked_at": None,
        "response_time_ms": None,
        "message": "",
    }


def test_service_managers_see_inactive_services_and_filter_them(users: UsersStub) -> None:
    service_make(name="Alpha")
    inactive = service_make(name="Beta", is_active=False)

    body = _send("GET", "/api/services/?is_active=false", **users.caller("service_admin")).json()

    assert [service["id"] for service in body["results"]] == [inactive.pk]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("api_type=wes", ["Gamma"]),
        ("country=za", ["Gamma"]),
        ("search=michigan", ["Alpha"]),
        ("health_status=unknown", ["Alpha", "Gamma"]),
    ],
)
def test_filters(query: str, expected: list[str]) -> None:
    service_make(name="Alpha", description="The Michigan server")
    service_make(name="Gamma", api_type="wes", country="ZA")

    body = _send("GET", f"/api/services/?{query}").json()

    assert [service["name"] for service in body["results"]] == expected


def test_a_bad_filter_value_names_the_parameter() -> None:
    body = _send("GET", "/api/services/?health_status=fine").json()

    assert body["error"]["details"] == {"health_status": ["One of healthy, unhealthy, timeout, unknown."]}


def test_detail_by_id_or_slug() -> None:
    service = service_make(slug="michigan")

    by_id = _send("GET", f"/api/services/{service.pk}/").json()
    by_slug = _send("GET", "/api/services/michigan/").json()

    assert by_id == by_slug
    assert set(by_id) == DETAIL_KEYS
    assert (by_id["slug"], by_id["app_id"], by_id["at_risk"]) == ("michigan", "imputationserver2", False)


def test_an_inactive_service_is_not_found_for_anonymous_callers() -> None:
    service = service_make(is_active=False)

    response = _send("GET", f"/api/services/{service.slug}/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_a_service_admin_registers_a_service_with_a_normalized_url(users: UsersStub) -> None:
    response = _send("POST", "/api/services/", NEW_SERVICE, **users.caller("service_admin"))

    body = response.json()
    assert response.status_code == 201
    assert set(body) == DETAIL_KEYS
    assert body["base_url"] == "https://node.example.org/ga4gh/wes/v1"
    assert body["location"] == {"country": "ZA", "city": "Cape Town", "institution": "UCT", "lat": -33.92, "lon": 18.42}
    assert body["limits"] == NEW_SERVICE["limits"]
    assert body["supported_builds"] == ["hg38"]
    event = OutboxEvent.objects.using("registry").get()
    assert (event.topic, event.payload["action"], event.payload["resource_id"]) == (
        "user.action.logged",
        "service_created",
        str(body["id"]),
    )


@pytest.mark.parametrize("role", ["researcher", "service_user", "viewer"])
def test_other_roles_cannot_register_services(role: str, users: UsersStub) -> None:
    response = _send("POST", "/api/services/", NEW_SERVICE, **users.caller(role))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "AUTHORIZATION_ERROR"
    assert not ImputationService.objects.exists()


def test_anonymous_writes_are_refused_at_the_edge() -> None:
    response = _send("POST", "/api/services/", NEW_SERVICE)

    assert response.status_code == 401
    assert not ImputationService.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"base_url": "javascript:alert(1)"}, "base_url"),
        ({"limits": {"min_samples": 500, "max_samples": 20}}, "min_samples"),
        ({"api_type": "carrier-pigeon"}, "api_type"),
        ({"location": {"country": "South Africa"}}, "location"),
    ],
)
def test_invalid_services_are_refused_naming_the_field(change: dict[str, Any], field: str, users: UsersStub) -> None:
    response = _send("POST", "/api/services/", {**NEW_SERVICE, **change}, **users.caller("admin"))

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]
    assert not ImputationService.objects.exists()


def test_a_duplicate_slug_is_a_conflict(users: UsersStub) -> None:
    service_make(slug="cape-town")

    response = _send("POST", "/api/services/", NEW_SERVICE, **users.caller("admin"))

    assert response.status_code == 409
    assert response.json()["error"]["message"] == "A service with the slug 'cape-town' already exists."


def test_a_service_admin_changes_a_service(users: UsersStub) -> None:
    service = service_make()

    body = _send(
        "PATCH",
        f"/api/services/{service.slug}/",
        {"limits": {"max_jobs": 5}, "name": "Renamed"},
        **users.caller("admin"),
    ).json()

    assert (body["name"], body["limits"]["max_jobs"]) == ("Renamed", 5)
    assert OutboxEvent.objects.using("registry").latest("seq").payload["details"]["changed"] == ["max_jobs", "name"]


def test_delete_deactivates_and_keeps_the_service(users: UsersStub) -> None:
    service = service_make()

    response = _send("DELETE", f"/api/services/{service.pk}/", **users.caller("service_admin"))

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert ImputationService.objects.get(pk=service.pk).is_active is False


def test_delete_is_refused_while_jobs_are_active_unless_forced(users: UsersStub) -> None:
    service = service_make()
    service_jobs_project(_job_event(service.pk, "running", job_id="job-1"))
    service_jobs_project(_job_event(service.pk, "completed", job_id="job-2"))

    refused = _send("DELETE", f"/api/services/{service.pk}/", **users.caller("admin"))
    forced = _send("DELETE", f"/api/services/{service.pk}/?force=true", **users.caller("admin"))

    assert refused.status_code == 409
    assert refused.json()["error"]["details"] == {"active_jobs": 1}
    assert forced.status_code == 200
    assert OutboxEvent.objects.using("registry").latest("seq").payload["details"]["forced"] is True


def test_a_late_event_never_overwrites_a_newer_job_status(users: UsersStub) -> None:
    service = service_make()
    later = _job_event(service.pk, "completed", job_id="job-9")
    earlier = Envelope(
        type=JOB_STATUS_UPDATED,
        source="jobs",
        aggregate_id="job-9",
        payload={"job_id": "job-9", "service_id": service.pk, "status": "running"},
        occurred_at=later.occurred_at - timedelta(seconds=5),
    )

    service_jobs_project(later)
    service_jobs_project(earlier)

    response = _send("DELETE", f"/api/services/{service.pk}/", **users.caller("admin"))
    assert response.status_code == 200
