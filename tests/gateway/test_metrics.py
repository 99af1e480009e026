"""GET /metrics: the Prometheus exposition, for a scraper holding the token or, without one, on loopback only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import AsyncClient, Client
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.redis

TABLE = """
[domains.jobs]
prefixes = ["/api/jobs/"]
target = "app"
anonymous = ["/api/jobs/plain/", "/api/jobs/status/"]
"""
FORBIDDEN = {
    "code": "AUTHORIZATION_ERROR",
    "message": "Metrics need the scrape token (or a loopback caller when none is set).",
}


async def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of one scrape from loopback."""
    response = await AsyncClient().get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def responses(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], status_class: str) -> float:
    labels = (("domain", "jobs"), ("status_class", status_class), ("target", "app"))
    return samples.get(("gateway_responses_total", labels), 0.0)


def latency_count(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    return samples.get(("gateway_request_duration_seconds_count", (("domain", "jobs"), ("target", "app"))), 0.0)


async def test_routed_requests_show_up_per_domain_target_and_status_class(
    routes_file: Callable[[str], Path], settings: Any
) -> None:
    settings.METRICS_TOKEN = ""
    routes_file(TABLE)
    before = await scrape()

    for path in ("/api/jobs/plain/", "/api/jobs/plain/", "/api/jobs/status/503/"):
        await AsyncClient().get(path)
    after = await scrape()

    assert responses(after, "2xx") - responses(before, "2xx") == 2
    assert responses(after, "5xx") - responses(before, "5xx") == 1
    assert latency_count(after) - latency_count(before) == 3


def test_the_exposition_is_prometheus_text(settings: Any) -> None:
    settings.METRICS_TOKEN = ""

    response = Client().get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# TYPE gateway_request_duration_seconds histogram" in response.content
    assert b"# TYPE gateway_route_reload_errors_total counter" in response.content


def test_a_scraper_asking_for_openmetrics_gets_it(settings: Any) -> None:
    settings.METRICS_TOKEN = ""

    response = Client().get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.content.endswith(b"# EOF\n")


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_without_a_token_a_loopback_caller_may_scrape(settings: Any, address: str) -> None:
    settings.METRICS_TOKEN = ""

    response = Client().get("/metrics", REMOTE_ADDR=address)

    assert response.status_code == 200


def test_without_a_token_any_other_caller_is_refused(settings: Any) -> None:
    settings.METRICS_TOKEN = ""

    response = Client().get("/metrics", REMOTE_ADDR="10.1.2.3", headers={"X-Request-ID": "req-metrics-refused"})

    assert response.status_code == 403
    assert response.json() == {"error": FORBIDDEN, "request_id": "req-metrics-refused"}


def test_with_a_token_the_bearer_of_it_may_scrape_from_anywhere(settings: Any) -> None:
    settings.METRICS_TOKEN = "scrape-token-1"

    response = Client().get("/metrics", REMOTE_ADDR="10.1.2.3", headers={"Authorization": "Bearer scrape-token-1"})

    assert response.status_code == 200


@pytest.mark.parametrize("authorization", [None, "Bearer scrape-token-2", "Basic scrape-token-1", "Bearer "])
def test_with_a_token_anyone_without_it_is_refused_even_on_loopback(settings: Any, authorization: str | None) -> None:
    settings.METRICS_TOKEN = "scrape-token-1"
    headers = {"Authorization": authorization} if authorization else {}

    response = Client().get("/metrics", REMOTE_ADDR="127.0.0.1", headers=headers)

    assert response.status_code == 403
    assert response.json()["error"] == FORBIDDEN


def test_only_get_is_allowed(settings: Any) -> None:
    settings.METRICS_TOKEN = ""

    response = Client().post("/metrics")

    assert response.status_code == 405
