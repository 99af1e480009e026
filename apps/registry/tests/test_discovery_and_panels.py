"""Discovery ranks the services that fit a job; the panel list filters by service, build and population."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from apps.registry.models import ReferencePanel
from apps.registry.tests.factories import UsersStub, service_make

pytestmark = [pytest.mark.django_db(databases=["registry"]), pytest.mark.redis]


def _get(path: str, **headers: str) -> Any:
    return json.loads(Client().get(path, headers=headers).content)


def test_healthy_fast_services_rank_first() -> None:
    service_make(name="Slow", health_status="healthy", health_response_time_ms=4000)
    service_make(name="Down", health_status="unhealthy")
    service_make(name="Fast", health_status="healthy", health_response_time_ms=80)

    body = _get("/api/services/discover/")

    assert [item["name"] for item in body["results"]] == ["Fast", "Slow", "Down"]
    assert body["results"][0]["score_parts"] == {"health": 1.0, "latency": 1.0, "capacity": 1.0}
    assert body["results"][0]["can_submit"] is None


def test_distance_counts_when_the_caller_gives_a_location() -> None:
    service_make(name="Cape Town", latitude=-33.92, longitude=18.42, health_status="healthy")
    service_make(name="Ann Arbor", latitude=42.28, longitude=-83.74, health_status="healthy")

    nairobi = _get("/api/services/discover/?lat=-1.29&lon=36.82")
    detroit = _get("/api/services/discover/?lat=42.33&lon=-83.05")

    assert [item["name"] for item in nairobi["results"]] == ["Cape Town", "Ann Arbor"]
    assert [item["name"] for item in detroit["results"]] == ["Ann Arbor", "Cape Town"]
    assert nairobi["results"][0]["distance_km"] == pytest.approx(4100, rel=0.05)


def test_services_that_cannot_take_the_job_are_left_out() -> None:
    service_make(name="hg19 only", supported_builds=["hg19"])
    service_make(name="Big cohorts", min_samples=1000)
    service_make(name="Fits", supported_builds=["hg38"], min_samples=20, max_samples=50_000)

    body = _get("/api/services/discover/?build=hg38&samples=300")

    assert [item["name"] for item in body["results"]] == ["Fits"]


def test_for_a_signed_in_caller_the_services_they_may_submit_to_rank_higher(users: UsersStub) -> None:
    granted = service_make(name="Granted")
    service_make(name="Not granted")

    body = _get("/api/services/discover/", **users.caller("service_user", submit_on={granted.pk}))

    assert [(item["name"], item["can_submit"]) for item in body["results"]] == [
        ("Granted", True),
        ("Not granted", False),
    ]


def test_a_bad_location_names_the_parameter() -> None:
    body = _get("/api/services/discover/?lat=91&lon=0")

    assert list(body["error"]["details"]) == ["lat"]


def test_panels_filter_by_service_build_and_population() -> None:
    michigan = service_make(slug="michigan")
    topmed = service_make(slug="topmed")
    ReferencePanel.objects.create(
        service=michigan, slug="apps@1000g@2", name="1000G", build="hg19", populations=["afr", "eur"]
    )
    ReferencePanel.objects.create(service=michigan, slug="apps@hrc@1", name="HRC", build="hg19", populations=["eur"])
    ReferencePanel.objects.create(service=topmed, slug="apps@topmed-r3@1.0.0", name="TOPMed r3", build="hg38")

    by_service = _get("/api/reference-panels/?service=michigan")
    by_population = _get("/api/reference-panels/?population=afr")
    by_build = _get("/api/reference-panels/?build=hg38")

    assert [panel["name"] for panel in by_service["results"]] == ["1000G", "HRC"]
    assert [panel["slug"] for panel in by_population["results"]] == ["apps@1000g@2"]
    assert by_build["results"] == [
        {
            "id": by_build["results"][0]["id"],
            "service_id": topmed.pk,
            "slug": "apps@topmed-r3@1.0.0",
            "name": "TOPMed r3",
            "description": "",
            "build": "hg38",
            "populations": [],
            "samples_count": None,
            "variants_count": None,
            "is_available": True,
        }
    ]


def test_panels_of_an_inactive_service_are_hidden_from_anonymous_callers(users: UsersStub) -> None:
    retired = service_make(is_active=False)
    ReferencePanel.objects.create(service=retired, slug="apps@old@1", name="Old", build="hg19")

    anonymous = _get("/api/reference-panels/")
    admin = _get("/api/reference-panels/", **users.caller("admin"))

    assert anonymous["count"] == 0
    assert admin["count"] == 1
