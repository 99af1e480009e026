"""Periodic work of the registry (Celery beat, CELERY_BEAT_SCHEDULE): health checks and their upkeep."""

from __future__ import annotations

from celery import shared_task

from apps.registry.services.health import health_maintenance, services_health_check_due


@shared_task(name="registry.health_check_due", ignore_result=True, soft_time_limit=120, time_limit=150)
def health_check_due() -> int:
    """Probe the services whose check is due; returns how many were probed. Runs every minute, so a slow round
    overlapping the next only probes what is due again, never a service twice in a row."""
    return len(services_health_check_due())


@shared_task(name="registry.health_maintenance", ignore_result=True)
def health_maintenance_run() -> tuple[int, int]:
    return health_maintenance()
