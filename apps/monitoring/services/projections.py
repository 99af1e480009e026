"""The monitoring context's projections of other contexts' events (the consumers in consumers.py call these, inside
the consumer's transaction on the monitoring database, together with its inbox row).

- `job.status.updated` -> JobFact, one row per job. An event older (by occurred_at) than the one already applied
  is ignored, so a late delivery never rolls a job back to an earlier status. Each write moves the version of the
  job's submission day (JobDay) on, so the analytics stop trusting that day's summary.
- `service.health.changed` -> ServiceState, one row per service, with when it went down.
- `file.upload.completed` -> UploadFact, one row per file.

A payload missing what the projection needs raises EnvelopeError: the kernel parks it in the dead-letter stream,
as no retry can fix it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils.dateparse import parse_datetime

from apps.kernel.envelope import Envelope, EnvelopeError
from apps.monitoring.models import (
    DB,
    JOB_STATUSES,
    SERVICE_DOWN_STATUSES,
    JobDay,
    JobFact,
    ServiceState,
    UploadFact,
)

NAME_MAX, CATEGORY_MAX, MESSAGE_MAX, LABEL_MAX = 200, 64, 500, 100
Fact = TypeVar("Fact", bound=models.Model)


def _moment(value: Any, *, field: str) -> datetime | None:
    """An ISO-8601 timestamp of the payload (naive ones are UTC); None when absent; EnvelopeError when garbled."""
    if value in (None, ""):
        return None
    parsed = parse_datetime(str(value)) if isinstance(value, str) else None
    if parsed is None:
        raise EnvelopeError(f"{field} is not an ISO-8601 timestamp: {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _occurred_at(envelope: Envelope) -> datetime:
    return _moment(envelope.payload.get("occurred_at"), field="occurred_at") or envelope.occurred_at


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def _optional_int(payload: dict[str, Any], name: str) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise EnvelopeError(f"{name} must be an integer or null: {value!r}") from exc


def _upsert(
    model: type[Fact], *, key: dict[str, Any], values: dict[str, Any], newer: Callable[[Fact], bool]
) -> Fact | None:
    """Create the row, or update it when `newer(row)` says this event is not older than the one it holds.

    Creating inside a savepoint lets two runners race on a new key: the loser finds the winner's row and compares.
    Returns the row written, or None when the event was older and ignored.
    """
    manager = model._default_manager.using(DB)
    if not manager.filter(**key).exists():
        try:
            with transaction.atomic(using=DB):
                return manager.create(**key, **values)
        except IntegrityError:
            pass  # created meanwhile: fall through to the update path
    current = manager.select_for_update().get(**key)
    if not newer(current):
        return None
    for name, value in values.items():
        setattr(current, name, value)
    current.save(using=DB)
    return current


def job_fact_apply(*, envelope: Envelope) -> JobFact | None:
    """Project one `job.status.updated`; None when it is older than what the job's row already says."""
    payload = envelope.payload
    try:
        job_id = uuid.UUID(str(payload["job_id"]))
        user_id, status = int(payload["user_id"]), str(payload["status"])
        service_id = _optional_int(payload, "service_id")  # None on a batch parent
        parent = payload.get("parent_id")
        parent_id = uuid.UUID(str(parent)) if parent else None
    except (KeyError, TypeError, ValueError) as exc:
        raise EnvelopeError(f"job.status.updated needs job_id (uuid), user_id and status: {exc}") from exc
    if status not in JOB_STATUSES:
        raise EnvelopeError(f"job.status.updated has an unknown status {status!r}")
    occurred_at = _occurred_at(envelope)
    created_at = _moment(payload.get("created_at"), field="created_at") or occurred_at
    created_day = created_at.astimezone(UTC).date()
    started_at = _moment(payload.get("started_at"), field="started_at")
    completed_at = _moment(payload.get("completed_at"), field="completed_at")
    progress = _optional_int(payload, "progress") or 0
    values = {
        "user_id": user_id,
        "service_id": service_id,
        "panel_id": _optional_int(payload, "panel_id"),
        "parent_id": parent_id,
        "name": str(payload.get("name") or "")[:NAME_MAX],
        "status": status,
        "stage": str(payload.get("stage") or "")[:16],
        "progress": min(100, max(0, progress)),
        "failure_category": str(payload.get("failure_category") or "")[:CATEGORY_MAX] if status == "failed" else "",
        "created_at": created_at,
        "created_day": created_day,
        "started_at": started_at,
        "completed_at": completed_at,
        "queue_seconds": _seconds(created_at, started_at),
        "duration_seconds": _seconds(started_at, completed_at) if completed_at else None,
        "event_at": occurred_at,
    }
    days = {created_day}

    def newer(row: JobFact) -> bool:
        days.add(row.created_day)  # a job whose submission time was corrected leaves its old day too
        return occurred_at >= row.event_at

    fact = _upsert(JobFact, key={"job_id": job_id}, values=values, newer=newer)
    if fact is not None:
        for day in sorted(days):
            job_day_touch(day=day)
    return fact


def job_day_touch(*, day: date) -> None:
    """Move the day's version on (creating its JobDay): its summary, if any, no longer answers for it."""
    days = JobDay.objects.using(DB)
    if days.filter(day=day).update(version=F("version") + 1):
        return
    try:
        with transaction.atomic(using=DB):
            days.create(day=day)
    except IntegrityError:  # created meanwhile by another runner
        days.filter(day=day).update(version=F("version") + 1)


def service_state_apply(*, envelope: Envelope) -> ServiceState | None:
    """Project one `service.health.changed`; None when older than the state already held."""
    payload = envelope.payload
    try:
        service_id, status = int(payload["service_id"]), str(payload["status"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EnvelopeError(f"service.health.changed needs service_id and status: {exc}") from exc
    occurred_at = _occurred_at(envelope)
    checked_at = _moment(payload.get("checked_at"), field="checked_at") or occurred_at
    previous = str(payload.get("previous") or "")
    values: dict[str, Any] = {
        "slug": str(payload.get("slug") or "")[:LABEL_MAX],
        "name": str(payload.get("name") or "")[:NAME_MAX],
        "status": status,
        "previous": previous[:16],
        "checked_at": checked_at,
        "response_time_ms": _optional_int(payload, "response_time_ms"),
        "message": str(payload.get("message") or "")[:MESSAGE_MAX],
        "event_at": occurred_at,
    }

    def newer(row: ServiceState) -> bool:
        if occurred_at < row.event_at:
            return False
        # still down (unhealthy <-> timeout): it went down when it first stopped answering, not now
        values["down_since"] = (row.down_since or checked_at) if status in SERVICE_DOWN_STATUSES else None
        return True

    values["down_since"] = checked_at if status in SERVICE_DOWN_STATUSES else None
    return _upsert(ServiceState, key={"service_id": service_id}, values=values, newer=newer)


def upload_fact_apply(*, envelope: Envelope) -> UploadFact | None:
    """Project one `file.upload.completed` (its verdict: ready or rejected, and its size)."""
    payload = envelope.payload
    try:
        file_id, owner_id, size = int(payload["file_id"]), int(payload["owner_id"]), int(payload["size"])
        kind, status = str(payload["kind"]), str(payload["status"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EnvelopeError(f"file.upload.completed needs file_id, owner_id, size, kind and status: {exc}") from exc
    occurred_at = _occurred_at(envelope)
    values = {"owner_id": owner_id, "kind": kind[:16], "status": status[:16], "size": size, "event_at": occurred_at}
    return _upsert(UploadFact, key={"file_id": file_id}, values=values, newer=lambda row: occurred_at >= row.event_at)
