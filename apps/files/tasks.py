"""Celery tasks of the files context: they take ids, call services, and are safe to run twice.

They are queued on FILES_CELERY_QUEUE, so an extracted files deployable's worker (which has only the files
database) can listen to a queue of its own.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import shared_task

from apps.files.services.retention import retention_run
from apps.files.services.uploads import VALIDATE_TASK
from apps.files.services.validation import file_validate as validation_run


@shared_task(name=VALIDATE_TASK, ignore_result=True, soft_time_limit=50 * 60, time_limit=55 * 60)
def file_validate(file_id: int) -> str | None:
    """Pre-flight checks of one completed upload (a multi-GB VCF takes minutes, hence the long limits)."""
    return validation_run(file_id=file_id)


@shared_task(name="files.retention", ignore_result=True, soft_time_limit=30 * 60, time_limit=35 * 60)
def retention() -> dict[str, Any]:
    """Hourly (CELERY_BEAT_SCHEDULE): abandoned uploads, expired files, stuck validations, storage reconciliation."""
    return asdict(retention_run())
