"""Health of the registered services: probing them concurrently, recording history, announcing transitions.

Probes (network only) run in a bounded thread pool, each limited by its connect/read timeouts, so one hanging
service costs its own timeout and delays no other. Results are then recorded one transaction per service on the
caller's thread; `service.health.changed` is written to the outbox only when the status differs from the last
one, so consumers hear of each transition exactly once.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.connectors.base import HealthResult, Timeouts, connector_for
from apps.connectors.errors import UnsupportedProtocolError
from apps.kernel.envelope import SERVICE_HEALTH_CHANGED
from apps.kernel.outbox import outbox_record
from apps.registry.models import DB, HealthCheck, HealthStatus, ImputationService, OutboxEvent
from apps.registry.outbound import OutboundUrlError, outbound_url_check
from apps.registry.selectors.services import service_is_at_risk
from apps.registry.services.services import registry_action_record

MESSAGE_MAX = 500


@dataclass(frozen=True)
class Probe:
    """What a probe needs, copied off the model so the pool's threads never touch the database."""

    service_id: int
    api_type: str
    base_url: str
    app_id: str


@dataclass(frozen=True)
class Outcome:
    """A probe's result in the registry's terms (the connectors know no "unknown": that is ours)."""

    status: HealthStatus
    response_time_ms: int | None = None
    message: str = ""
    server_info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, result: HealthResult) -> Outcome:
        return cls(HealthStatus(result.status), result.response_time_ms, result.message, dict(result.server_info))


def _probe(probe: Probe) -> Outcome:
    try:
        outbound_url_check(probe.base_url)
        connector = connector_for(
            api_type=probe.api_type,
            base_url=probe.base_url,
            app_id=probe.app_id,
            timeouts=Timeouts(
                connect=settings.REGISTRY_HEALTH_CONNECT_TIMEOUT, read=settings.REGISTRY_HEALTH_READ_TIMEOUT
            ),
        )
    except UnsupportedProtocolError:
        return Outcome(HealthStatus.UNKNOWN, message="No automated check for this protocol.")
    except OutboundUrlError as exc:
        return Outcome(HealthStatus.UNHEALTHY, message=exc.message)
    try:
        return Outcome.of(connector.health())
    finally:
        connector.close()


def _next_check(service: ImputationService, now: datetime) -> datetime:
    """The interval with +-10% jitter, so services registered together do not stay in lockstep."""
    interval = service.health_check_interval_seconds
    return now + timedelta(seconds=interval * random.uniform(0.9, 1.1))  # noqa: S311 (jitter, not security)


def health_record(*, service_id: int, result: Outcome, now: datetime | None = None) -> HealthCheck | None:
    """Store one probe's outcome; None when the service vanished meanwhile."""
    now = now or timezone.now()
    status = result.status
    message = result.message[:MESSAGE_MAX]
    with transaction.atomic(using=DB):
        service = ImputationService.objects.using(DB).select_for_update().filter(pk=service_id).first()
        if service is None:
            return None
        previous = service.health_status
        check = HealthCheck.objects.using(DB).create(
            service=service, status=status, checked_at=now, response_time_ms=result.response_time_ms, message=message
        )
        service.health_status = status
        service.health_checked_at = now
        service.health_response_time_ms = result.response_time_ms
        service.health_message = message
        if status == HealthStatus.HEALTHY:
            service.unhealthy_since = None
        elif status in (HealthStatus.UNHEALTHY, HealthStatus.TIMEOUT) and service.unhealthy_since is None:
            service.unhealthy_since = now
        if result.server_info:
            service.server_info, service.server_info_at = result.server_info, now
        service.next_health_check_at = _next_check(service, now)
        service.save(using=DB)
        if previous != status:
            outbox_record(
                outbox=OutboxEvent,
                topic=SERVICE_HEALTH_CHANGED,
                aggregate_id=service.pk,
                payload={
                    "service_id": service.pk,
                    "slug": service.slug,
                    "name": service.name,
                    "previous": previous,
                    "status": status.value,
                    "checked_at": now.isoformat(),
                    "response_time_ms": result.response_time_ms,
                    "message": message,
                },
            )
    return check


def services_health_check(*, services: Iterable[ImputationService]) -> list[HealthCheck]:
    """Probe these services concurrently (at most REGISTRY_HEALTH_CONCURRENCY at once) and record each result."""
    probes = [Probe(service.pk, service.api_type, service.base_url, service.app_id) for service in services]
    if not probes:
        return []
    with ThreadPoolExecutor(max_workers=min(settings.REGISTRY_HEALTH_CONCURRENCY, len(probes))) as pool:
        results = list(pool.map(_probe, probes))
    checks = [
        health_record(service_id=probe.service_id, result=result) for probe, result in zip(probes, results, strict=True)
    ]
    return [check for check in checks if check is not None]


def services_health_check_due(*, now: datetime | None = None) -> list[HealthCheck]:
    """Every active service whose next check is due (or was never scheduled).

    Each due service is claimed first (its next check moved on, compare-and-set on the old value), so two rounds
    that overlap never probe the same service twice.
    """
    now = now or timezone.now()
    services = ImputationService.objects.using(DB)
    due = services.filter(Q(next_health_check_at__isnull=True) | Q(next_health_check_at__lte=now), is_active=True)
    claimed = [
        service
        for service in due
        if services.filter(pk=service.pk, next_health_check_at=service.next_health_check_at).update(
            next_health_check_at=_next_check(service, now)
        )
    ]
    return services_health_check(services=claimed)


def health_maintenance(*, now: datetime | None = None) -> tuple[int, int]:
    """Prune history beyond REGISTRY_HEALTH_HISTORY_DAYS and, when REGISTRY_DEACTIVATE_AT_RISK is on,
    deactivate services unhealthy for REGISTRY_AT_RISK_DAYS. Returns (checks pruned, services deactivated)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.REGISTRY_HEALTH_HISTORY_DAYS)
    pruned, _ = HealthCheck.objects.using(DB).filter(checked_at__lt=cutoff).delete()
    deactivated = 0
    if settings.REGISTRY_DEACTIVATE_AT_RISK:
        for service in ImputationService.objects.using(DB).filter(is_active=True, unhealthy_since__isnull=False):
            if not service_is_at_risk(service):
                continue
            with transaction.atomic(using=DB):
                service.is_active = False
                service.save(using=DB, update_fields=["is_active", "updated_at"])
                registry_action_record(
                    action="service_deactivated_at_risk",
                    actor_id=None,
                    service=service,
                    unhealthy_since=service.unhealthy_since.isoformat() if service.unhealthy_since else None,
                )
            deactivated += 1
    return pruned, deactivated
