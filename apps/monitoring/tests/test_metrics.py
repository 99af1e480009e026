"""The business metrics as Prometheus reads them: computed from the projections and the latest health snapshot,
one exposition per scrape; per-alias database metrics and cache metrics on django-prometheus's series."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connections
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from apps.monitoring.consumers import upload_facts_project
from apps.monitoring.metrics import MonitoringCollector
from apps.monitoring.models import Alert, HealthSnapshot
from apps.monitoring.tests.factories import T0, job_make, service_make, upload_event

pytestmark = pytest.mark.django_db(databases=["monitoring"])

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(registry: Any = None) -> Samples:
    if registry is None:
        registry = CollectorRegistry()
        registry.register(MonitoringCollector())
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _of(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (sample, labels), value in samples.items() if sample == name}


def test_jobs_durations_queue_times_and_failures_are_counted_from_the_projection() -> None:
    service_make(3, "healthy")
    job_make("completed", ran=100, queued=2)
    job_make("completed", ran=900, queued=30)
    job_make("failed", ran=50, queued=2, failure_category="remote_error")
    job_make("running", service_id=5, queued=7200)
    job_make("queued", service_id=5, queued=None)

    samples = _scrape()

    assert _of(samples, "fip_jobs") == {
        (("service", "svc-3"), ("status", "completed")): 2.0,
        (("service", "svc-3"), ("status", "failed")): 1.0,
        (("service", "5"), ("status", "running")): 1.0,
        (("service", "5"), ("status", "queued")): 1.0,
    }
    buckets = {dict(labels)["le"]: value for labels, value in _of(samples, "fip_job_duration_seconds_bucket").items()}
    assert (buckets["60"], buckets["300"], buckets["600"], buckets["1800"], buckets["+Inf"]) == (0, 1, 1, 2, 2)
    assert samples[("fip_job_duration_seconds_sum", (("service", "svc-3"),))] == 1000.0  # completed jobs only
    assert samples[("fip_job_queue_seconds_count", (("service", "5"),))] == 1.0
    assert samples[("fip_job_queue_seconds_bucket", (("le", "5"), ("service", "svc-3")))] == 2.0
    assert _of(samples, "fip_job_failures_total") == {(("category", "remote_error"),): 1.0}


def test_uploads_services_alerts_and_the_latest_snapshot_are_exported() -> None:
    upload_facts_project(upload_event(file_id=1, size=1_000))
    upload_facts_project(upload_event(file_id=2, size=2_000))
    upload_facts_project(upload_event(file_id=3, size=5, status="rejected"))
    service_make(3, "healthy")
    service_make(4, "timeout", since=timezone.now() - timedelta(minutes=20))
    Alert.objects.using("monitoring").create(
        rule="service_down", fingerprint="service_down:service:4", severity="warning", title="down"
    )
    HealthSnapshot.objects.using("monitoring").create(taken_at=T0, status="healthy", components=[])
    HealthSnapshot.objects.using("monitoring").create(
        taken_at=timezone.now() - timedelta(seconds=30),
        status="critical",
        components=[
            {"name": "redis", "status": "ok", "impact": "critical", "data": {}},
            {
                "name": "workers",
                "status": "down",
                "impact": "critical",
                "data": {"workers": ["w1"], "queues": {"w1": ["node"]}, "unserved": ["celery"]},
            },
            {
                "name": "events",
                "status": "ok",
                "impact": "degraded",
                "data": {
                    "outboxes": {"jobs": {"pending": 12, "oldest_seconds": 4.5}},
                    "consumers": {"monitoring.job_facts": {"pending": 3, "lag": 7}},
                    "dead_letters": 1,
                },
            },
        ],
    )

    samples = _scrape()

    assert _of(samples, "fip_upload_bytes_total") == {
        (("kind", "input"), ("status", "ready")): 3000.0,
        (("kind", "input"), ("status", "rejected")): 5.0,
    }
    assert _of(samples, "fip_uploads_total")[(("kind", "input"), ("status", "ready"))] == 2.0
    assert _of(samples, "fip_service_up") == {(("service", "svc-3"),): 1.0, (("service", "svc-4"),): 0.0}
    assert 1190 < samples[("fip_service_down_seconds", (("service", "svc-4"),))] < 1300
    assert _of(samples, "fip_alerts_open") == {(("rule", "service_down"), ("severity", "warning")): 1.0}
    assert samples[("fip_health_status", ())] == 2.0
    assert 29 < samples[("fip_health_snapshot_age_seconds", ())] < 60
    assert _of(samples, "fip_health_component_up") == {
        (("component", "events"), ("impact", "degraded")): 1.0,
        (("component", "redis"), ("impact", "critical")): 1.0,
        (("component", "workers"), ("impact", "critical")): 0.0,
    }
    assert samples[("fip_celery_workers", ())] == 1.0
    assert _of(samples, "fip_celery_queue_served") == {(("queue", "celery"),): 0.0, (("queue", "node"),): 1.0}
    assert samples[("fip_event_outbox_backlog", (("context", "jobs"),))] == 12.0
    assert samples[("fip_event_consumer_lag", (("consumer", "monitoring.job_facts"),))] == 7.0
    assert samples[("fip_event_dead_letters", ())] == 1.0
    assert set(_of(samples, "fip_monitoring_scrape_errors").values()) == {0.0}


@pytest.mark.django_db(databases=[])
def test_a_part_that_cannot_be_computed_is_flagged_and_the_scrape_still_answers() -> None:
    samples = _scrape()  # no database allowed in this test: every part fails

    assert _of(samples, "fip_monitoring_scrape_errors") == {
        (("part", part),): 1.0 for part in ("jobs", "uploads", "services", "alerts", "snapshot")
    }
    assert _of(samples, "fip_jobs") == {}


def _query_on_a_new_connection() -> None:
    """A query from another thread: Django opens (and here closes) a connection of that thread's own."""

    def work() -> None:
        try:
            with connections["monitoring"].cursor() as cursor:  # no table: the test's transaction may lock them
                cursor.execute("SELECT 1")
        finally:
            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()


def test_the_process_registry_carries_the_collector_and_per_alias_database_metrics() -> None:
    labels = (("alias", "monitoring"), ("vendor", connections["monitoring"].vendor))
    job_make("failed")
    before = _scrape(REGISTRY)

    _query_on_a_new_connection()
    after = _scrape(REGISTRY)

    assert after[("fip_jobs", (("service", "3"), ("status", "failed")))] == 1.0
    assert after[("django_db_execute_total", labels)] > before.get(("django_db_execute_total", labels), 0)
    new_connections = ("django_db_new_connections_total", labels)
    assert after[new_connections] - before.get(new_connections, 0) >= 1
    assert after[("django_db_query_duration_seconds_count", labels)] > 0


@pytest.mark.redis
def test_cache_gets_count_hits_and_misses() -> None:
    cache = caches["default"]
    before = _scrape(REGISTRY)
    key = f"monitoring-test-{timezone.now().timestamp()}"

    cache.set(key, "value", 30)
    hit, miss = cache.get(key), cache.get(f"{key}-absent", "fallback")
    after = _scrape(REGISTRY)

    def delta(name: str) -> float:
        sample = (name, (("backend", "redis"),))
        return after.get(sample, 0.0) - before.get(sample, 0.0)

    assert (hit, miss) == ("value", "fallback")
    assert (
        delta("django_cache_get_total"),
        delta("django_cache_get_hits_total"),
        delta("django_cache_get_misses_total"),
    ) == (2, 1, 1)
