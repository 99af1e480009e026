"""Periodic work of the monitoring context (Celery beat, CELERY_BEAT_SCHEDULE): the evaluation and its upkeep."""

from __future__ import annotations

from celery import shared_task

from apps.monitoring.services.evaluation import monitoring_evaluate, monitoring_prune
from apps.monitoring.services.summaries import job_days_summarise


@shared_task(name="monitoring.evaluate", ignore_result=True, soft_time_limit=50, time_limit=60)
def evaluate() -> str:
    """Probe, snapshot, alert; returns the overall status. `expires` in the beat entry drops a run that waited
    longer than one period, so a backlog never replays stale evaluations."""
    return monitoring_evaluate().report.status


@shared_task(name="monitoring.prune", ignore_result=True)
def prune() -> tuple[int, int]:
    return monitoring_prune()


@shared_task(name="monitoring.summarise", ignore_result=True, soft_time_limit=240, time_limit=300)
def summarise() -> int:
    """The analytics' per-day summaries, for the days whose jobs changed since the last run."""
    return job_days_summarise()
