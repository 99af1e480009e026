"""Reads of the registry about services and panels: lookups by id or slug, filtered lists, discovery ranking."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.kernel.errors import NotFoundError
from apps.registry.models import ACTIVE_JOB_STATUSES, DB, HealthStatus, ImputationService, ReferencePanel, ServiceJob


def service_get(*, id_or_slug: str | int, active_only: bool = False) -> ImputationService:
    services = ImputationService.objects.using(DB)
    if active_only:
        services = services.filter(is_active=True)
    key = str(id_or_slug)
    service = services.filter(pk=int(key)).first() if key.isascii() and key.isdigit() else None
    service = service or services.filter(slug=key).first()
    if service is None:
        raise NotFoundError("Not found.")
    return service


def service_list(
    *,
    active_only: bool,
    api_type: str | None = None,
    is_active: bool | None = None,
    health_status: str | None = None,
    country: str | None = None,
    search: str | None = None,
) -> QuerySet[ImputationService]:
    services = ImputationService.objects.using(DB).annotate(
        panel_count=Count("panels", filter=Q(panels__is_available=True))
    )
    if active_only:
        services = services.filter(is_active=True)
    if api_type:
        services = services.filter(api_type=api_type)
    if is_active is not None:
        services = services.filter(is_active=is_active)
    if health_status:
        services = services.filter(health_status=health_status)
    if country:
        services = services.filter(country=country.upper())
    if search:
        services = services.filter(
            Q(name__icontains=search) | Q(description__icontains=search) | Q(institution__icontains=search)
        )
    return services.order_by("name")


def panel_list(
    *, service_id: int | None = None, build: str | None = None, population: str | None = None, active_only: bool
) -> list[ReferencePanel]:
    panels = ReferencePanel.objects.using(DB).select_related("service").order_by("service__name", "name")
    if active_only:
        panels = panels.filter(service__is_active=True)
    if service_id is not None:
        panels = panels.filter(service_id=service_id)
    if build:
        panels = panels.filter(build=build)
    result = list(panels)
    if population:  # populations is a JSON list; filtering in Python keeps SQLite and PostgreSQL alike
        result = [panel for panel in result if population in panel.populations]
    return result


def panel_get(*, service_id: int, id_or_slug: str | int) -> ReferencePanel:
    panels = ReferencePanel.objects.using(DB).filter(service_id=service_id)
    key = str(id_or_slug)
    panel = panels.filter(pk=int(key)).first() if key.isascii() and key.isdigit() else None
    panel = panel or panels.filter(slug=key).first() or panels.filter(slug__endswith=f"@{key}").first()
    panel = panel or panels.filter(slug__contains=f"@{key}@").first()  # a bare Cloudgene id: apps@<id>@<version>
    if panel is None:
        raise NotFoundError("Not found.")
    return panel


def active_job_count(*, service_id: int) -> int:
    return ServiceJob.objects.using(DB).filter(service_id=service_id, status__in=ACTIVE_JOB_STATUSES).count()


def service_is_at_risk(service: ImputationService) -> bool:
    """Unhealthy (or timing out) for longer than REGISTRY_AT_RISK_DAYS."""
    since = service.unhealthy_since
    return since is not None and since <= timezone.now() - timedelta(days=settings.REGISTRY_AT_RISK_DAYS)


EARTH_RADIUS_KM = 6371.0


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class Ranked:
    service: ImputationService
    score: float
    reasons: dict[str, float]
    distance_km: float | None
    active_jobs: int
    can_submit: bool | None


HEALTH_SCORE = {
    HealthStatus.HEALTHY: 1.0,
    HealthStatus.UNKNOWN: 0.5,
    HealthStatus.TIMEOUT: 0.1,
    HealthStatus.UNHEALTHY: 0.0,
}
WEIGHTS = {"health": 0.4, "latency": 0.2, "distance": 0.15, "capacity": 0.15, "access": 0.1}


def services_discover(
    *,
    latitude: float | None = None,
    longitude: float | None = None,
    build: str | None = None,
    samples: int | None = None,
    submit_rights: dict[int, bool] | None = None,
) -> list[Ranked]:
    """Active services that fit (build, sample count), best first.

    Score in [0, 1]: health 40%, latency 20% (1 at <= 100 ms, 0 at >= 5 s), distance 15% (when a location is
    given; 1 nearby, 0 at the antipode), spare capacity 15% (fewer of our jobs in flight there is better),
    and whether the caller may submit there 10% (when known).
    """
    services = list(ImputationService.objects.using(DB).filter(is_active=True))
    if build:
        services = [service for service in services if build in service.supported_builds]
    if samples is not None:
        services = [
            service
            for service in services
            if (service.min_samples is None or samples >= service.min_samples)
            and (service.max_samples is None or samples <= service.max_samples)
        ]
    loads = dict(
        ServiceJob.objects.using(DB)
        .filter(service_id__in=[service.pk for service in services], status__in=ACTIVE_JOB_STATUSES)
        .values_list("service_id")
        .annotate(n=Count("id"))
    )
    ranked = []
    for service in services:
        reasons = {"health": HEALTH_SCORE.get(HealthStatus(service.health_status), 0.0)}
        latency = service.health_response_time_ms
        reasons["latency"] = 0.5 if latency is None else max(0.0, min(1.0, (5000 - latency) / 4900))
        distance = None
        if None not in (latitude, longitude, service.latitude, service.longitude):
            distance = distance_km(latitude, longitude, service.latitude, service.longitude)  # type: ignore[arg-type]
            reasons["distance"] = 1 - distance / (math.pi * EARTH_RADIUS_KM)
        active = int(loads.get(service.pk, 0))
        reasons["capacity"] = 1 / (1 + active / 10)  # halves at 10 of our jobs in flight there
        can_submit = None if submit_rights is None else submit_rights.get(service.pk, False)
        if can_submit is not None:
            reasons["access"] = 1.0 if can_submit else 0.0
        weight = sum(WEIGHTS[name] for name in reasons)
        score = sum(WEIGHTS[name] * value for name, value in reasons.items()) / weight
        ranked.append(Ranked(service, round(score, 4), reasons, distance, active, can_submit))
    return sorted(ranked, key=lambda item: (-item.score, item.service.name))
