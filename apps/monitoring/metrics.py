"""Business metrics for Prometheus, computed at scrape time from the monitoring database.

Counting from the projections (not from counters incremented in whichever process saw a job change) makes every
scrape of any process answer the same figures, survive restarts, and need no multi-process registry. Process-level
health (workers, event lag, components) comes from the latest evaluation's snapshot, so a scrape never probes
anything itself; the snapshot's age is exported so a stalled evaluation is visible.

Registered in the default registry by MonitoringConfig.ready() in the process that hosts the monitoring context;
the gateway's GET /metrics (token or loopback, gateway/api.py) exposes it with the rest.

| metric | type | labels |
|---|---|---|
| fip_jobs | gauge | service, status |
| fip_job_duration_seconds | histogram (started -> completed, completed jobs) | service |
| fip_job_queue_seconds | histogram (created -> started) | service |
| fip_job_failures_total | counter (failed jobs) | category |
| fip_uploads_total, fip_upload_bytes_total | counter | kind, status |
| fip_service_up, fip_service_down_seconds, fip_service_response_ms | gauge | service |
| fip_health_status | gauge: 0 healthy, 1 degraded, 2 critical | |
| fip_health_component_up | gauge: 1 ok, 0 otherwise | component, impact |
| fip_health_snapshot_age_seconds | gauge | |
| fip_celery_workers, fip_celery_queue_served | gauge | queue |
| fip_event_outbox_backlog, fip_event_outbox_oldest_seconds | gauge | context |
| fip_event_consumer_pending, fip_event_consumer_lag | gauge | consumer |
| fip_event_dead_letters | gauge | |
| fip_alerts_open | gauge | rule, severity |
| fip_monitoring_scrape_errors | gauge: 1 when a part of this collection failed | part |
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.db.models import Count, Q, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from apps.monitoring.models import (
    DB,
    OPEN_ALERT_STATUSES,
    RUNS,
    SERVICE_DOWN_STATUSES,
    Alert,
    JobFact,
    ServiceState,
    UploadFact,
)
from apps.monitoring.selectors.alerts import snapshot_latest
from apps.monitoring.selectors.health import LEVELS, OK
from apps.monitoring.selectors.jobs import service_labels

logger = logging.getLogger(__name__)

DURATION_BUCKETS = (60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0)
QUEUE_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)


def _histogram(
    name: str, documentation: str, field: str, buckets: Sequence[float], labels: dict[int, str], **only: Any
) -> HistogramMetricFamily:
    """Cumulative bucket counts per service in one grouped query (COUNT ... FILTER per bucket)."""
    family = HistogramMetricFamily(name, documentation, labels=["service"])
    counts: dict[str, Any] = {
        f"le{i}": Count("id", filter=Q(**{f"{field}__lte": bound})) for i, bound in enumerate(buckets)
    }
    rows = (
        JobFact.objects.using(DB)
        .filter(RUNS, **{f"{field}__isnull": False}, **only)
        .order_by()
        .values("service_id")
        .annotate(n=Count("id"), total=Sum(field), **counts)
    )
    for row in rows:
        cumulative = [(f"{bound:g}", float(row[f"le{i}"])) for i, bound in enumerate(buckets)]
        family.add_metric(
            [labels.get(row["service_id"], str(row["service_id"]))],
            [*cumulative, ("+Inf", float(row["n"]))],
            sum_value=float(row["total"] or 0.0),
        )
    return family


def _jobs(labels: dict[int, str]) -> Iterator[Metric]:
    jobs = GaugeMetricFamily("fip_jobs", "Jobs by service and current status.", labels=["service", "status"])
    for row in JobFact.objects.using(DB).filter(RUNS).order_by().values("service_id", "status").annotate(n=Count("id")):
        jobs.add_metric([labels.get(row["service_id"], str(row["service_id"])), row["status"]], row["n"])
    yield jobs
    yield _histogram(
        "fip_job_duration_seconds",
        "Run time of completed jobs, from start to completion.",
        "duration_seconds",
        DURATION_BUCKETS,
        labels,
        status="completed",
    )
    yield _histogram(
        "fip_job_queue_seconds",
        "Time jobs waited from creation until they started.",
        "queue_seconds",
        QUEUE_BUCKETS,
        labels,
    )
    failures = CounterMetricFamily("fip_job_failures", "Failed jobs by failure category.", labels=["category"])
    failed = JobFact.objects.using(DB).filter(RUNS, status="failed").order_by().values("failure_category")
    for row in failed.annotate(n=Count("id")):
        failures.add_metric([row["failure_category"] or "uncategorised"], row["n"])
    yield failures


def _uploads() -> Iterator[Metric]:
    uploads = CounterMetricFamily("fip_uploads", "Completed uploads by kind and verdict.", labels=["kind", "status"])
    volume = CounterMetricFamily("fip_upload_bytes", "Bytes of completed uploads.", labels=["kind", "status"])
    rows = UploadFact.objects.using(DB).order_by().values("kind", "status").annotate(n=Count("id"), size=Sum("size"))
    for row in rows:
        uploads.add_metric([row["kind"], row["status"]], row["n"])
        volume.add_metric([row["kind"], row["status"]], float(row["size"] or 0))
    yield uploads
    yield volume


def _services() -> Iterator[Metric]:
    now = timezone.now()
    up = GaugeMetricFamily("fip_service_up", "1 when the service's last health check was healthy.", labels=["service"])
    down_for = GaugeMetricFamily(
        "fip_service_down_seconds",
        "How long the service has been unhealthy or timing out (0 when up).",
        labels=["service"],
    )
    latency = GaugeMetricFamily(
        "fip_service_response_ms", "Response time of the last health check.", labels=["service"]
    )
    for state in ServiceState.objects.using(DB).order_by("service_id"):
        label = state.slug or str(state.service_id)
        up.add_metric([label], 1.0 if state.status == "healthy" else 0.0)
        down = state.status in SERVICE_DOWN_STATUSES and state.down_since is not None
        down_for.add_metric([label], (now - state.down_since).total_seconds() if down and state.down_since else 0.0)
        if state.response_time_ms is not None:
            latency.add_metric([label], float(state.response_time_ms))
    yield from (up, down_for, latency)


def _alerts() -> Iterator[Metric]:
    family = GaugeMetricFamily("fip_alerts_open", "Open (firing or acknowledged) alerts.", labels=["rule", "severity"])
    rows = Alert.objects.using(DB).filter(status__in=OPEN_ALERT_STATUSES).order_by().values("rule", "severity")
    for row in rows.annotate(n=Count("id")):
        family.add_metric([row["rule"], row["severity"]], row["n"])
    yield family


def _snapshot() -> Iterator[Metric]:
    snapshot = snapshot_latest()
    if snapshot is None:
        return
    yield GaugeMetricFamily(
        "fip_health_status",
        "Overall health at the last evaluation: 0 healthy, 1 degraded, 2 critical.",
        value=float(LEVELS.index(snapshot.status)) if snapshot.status in LEVELS else 2.0,
    )
    yield GaugeMetricFamily(
        "fip_health_snapshot_age_seconds",
        "Seconds since the last health evaluation.",
        value=(timezone.now() - snapshot.taken_at).total_seconds(),
    )
    components = {c["name"]: c for c in snapshot.components}
    up = GaugeMetricFamily("fip_health_component_up", "1 when the component was ok.", labels=["component", "impact"])
    for name, c in sorted(components.items()):
        up.add_metric([name, c["impact"]], 1.0 if c["status"] == OK else 0.0)
    yield up
    workers = components.get("workers", {}).get("data") or {}
    if "workers" in workers:
        yield GaugeMetricFamily("fip_celery_workers", "Celery workers answering.", value=len(workers["workers"]))
        served = GaugeMetricFamily("fip_celery_queue_served", "1 when a worker consumes the queue.", labels=["queue"])
        queues = {q for qs in workers.get("queues", {}).values() for q in qs}
        for queue in sorted(queues | set(workers.get("unserved") or [])):
            served.add_metric([queue], 0.0 if queue in (workers.get("unserved") or []) else 1.0)
        yield served
    yield from _events(components.get("events", {}).get("data") or {})


def _events(data: dict[str, Any]) -> Iterator[Metric]:
    if "outboxes" not in data:
        return
    backlog = GaugeMetricFamily("fip_event_outbox_backlog", "Unpublished events per outbox.", labels=["context"])
    oldest = GaugeMetricFamily(
        "fip_event_outbox_oldest_seconds", "Age of the oldest unpublished event per outbox.", labels=["context"]
    )
    for context, o in sorted(data["outboxes"].items()):
        if o.get("pending") is not None:
            backlog.add_metric([context], float(o["pending"]))
            oldest.add_metric([context], float(o.get("oldest_seconds") or 0.0))
    pending = GaugeMetricFamily("fip_event_consumer_pending", "Delivered, unacknowledged events.", labels=["consumer"])
    lag = GaugeMetricFamily("fip_event_consumer_lag", "Events not yet delivered to the group.", labels=["consumer"])
    for name, c in sorted(data.get("consumers", {}).items()):
        if c.get("pending") is not None:
            pending.add_metric([name], float(c["pending"]))
        if c.get("lag") is not None:
            lag.add_metric([name], float(c["lag"]))
    yield from (backlog, oldest, pending, lag)
    if data.get("dead_letters") is not None:
        yield GaugeMetricFamily(
            "fip_event_dead_letters", "Events parked in the dead-letter stream.", value=data["dead_letters"]
        )


class MonitoringCollector(Collector):
    """A scrape-time view of the monitoring database; a part that fails is skipped and flagged, never the scrape."""

    def collect(self) -> Iterator[Metric]:
        errors = GaugeMetricFamily(
            "fip_monitoring_scrape_errors", "1 when this part of the business metrics failed.", labels=["part"]
        )
        try:
            labels = service_labels()
        except Exception:
            labels = {}
        parts: list[tuple[str, Callable[[], Iterator[Metric]]]] = [
            ("jobs", lambda: _jobs(labels)),
            ("uploads", _uploads),
            ("services", _services),
            ("alerts", _alerts),
            ("snapshot", _snapshot),
        ]
        for part, produce in parts:
            try:
                families = list(produce())
            except Exception as exc:
                logger.warning("business metrics: %s failed: %s: %s", part, type(exc).__name__, exc)
                errors.add_metric([part], 1.0)
                continue
            errors.add_metric([part], 0.0)
            yield from families
        yield errors

    def describe(self) -> list[Metric]:
        return []  # unchecked collector: its families depend on the data; registering must not query
