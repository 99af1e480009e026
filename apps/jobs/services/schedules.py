"""Templates and scheduled submissions: saved settings, and jobs created later or again and again.

A schedule holds a whole POST /api/jobs/ body; `schedules_run` (beat, every minute) submits each due one as its
owner would, through `job_create` with an idempotency key per run, so a beat that fires twice submits once. A run
that fails its checks (file deleted, permission withdrawn) is recorded on the schedule and the next run still
comes; a one-off schedule is then done.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from croniter import CroniterBadCronError, croniter
from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.utils import timezone

from apps.jobs.models import DB, JobTemplate, Recurrence, ScheduledJob
from apps.jobs.services.jobs import Actor, JobRequest, job_create
from apps.kernel.errors import ApplicationError

logger = logging.getLogger(__name__)

REQUEST_FIELDS = (
    "name",
    "description",
    "service",
    "reference_panel",
    "input_files",
    "build",
    "phasing",
    "population",
    "mode",
    "r2_filter",
    "input_format",
)
TEMPLATE_FIELDS = tuple(name for name in REQUEST_FIELDS if name not in ("input_files", "name", "description"))


class ScheduleError(ApplicationError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message, details={field_name: [message]})


def job_request_of(params: dict[str, Any]) -> JobRequest:
    """A JobRequest from a stored body; ScheduleError names a missing or mistyped field."""
    try:
        return JobRequest(
            name=str(params["name"])[:200],
            description=str(params.get("description") or ""),
            service=params["service"],
            reference_panel=params["reference_panel"],
            input_files=tuple(int(file_id) for file_id in params["input_files"]),
            build=str(params.get("build") or "hg19"),
            phasing=str(params.get("phasing") or "eagle"),
            population=str(params.get("population") or "off"),
            mode=str(params.get("mode") or "imputation"),
            r2_filter=float(params.get("r2_filter") or 0.0),
            input_format=str(params.get("input_format") or "vcf.gz"),
        )
    except KeyError as missing:
        raise ScheduleError(str(missing.args[0]), f"{missing.args[0]} is required.") from None
    except (TypeError, ValueError) as exc:
        raise ScheduleError("params", f"The job settings are malformed: {exc}") from None


def next_run(*, recurrence: str, cron: str, after: datetime) -> datetime | None:
    """When a schedule runs next after `after` (UTC); None for a one-off that has run."""
    if recurrence == Recurrence.ONCE:
        return None
    if recurrence == Recurrence.DAILY:
        return after + timedelta(days=1)
    if recurrence == Recurrence.WEEKLY:
        return after + timedelta(weeks=1)
    if recurrence == Recurrence.MONTHLY:
        return after + relativedelta(months=1)
    return croniter(cron, after).get_next(datetime)


def cron_check(cron: str) -> None:
    try:
        croniter(cron, timezone.now())
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        raise ScheduleError(
            "cron", f"{cron!r} is not a cron expression (minute hour day month weekday): {exc}"
        ) from None


def template_params_check(params: dict[str, Any]) -> dict[str, Any]:
    """A template keeps only the job settings (not files, not a name); unknown keys are refused by name."""
    unknown = sorted(set(params) - set(TEMPLATE_FIELDS))
    if unknown:
        raise ScheduleError(
            "params", f"Unknown template fields: {', '.join(unknown)}; allowed: {', '.join(TEMPLATE_FIELDS)}."
        )
    for required in ("service", "reference_panel"):
        if required not in params:
            raise ScheduleError(required, f"A template needs {required}.")
    return params


def template_apply(template: JobTemplate, body: dict[str, Any]) -> dict[str, Any]:
    """A job body: the template's settings under what the request itself gives."""
    return {**template.params, **{key: value for key, value in body.items() if value is not None}}


def schedules_run(*, now: datetime | None = None) -> int:
    """Submit every due schedule once; returns how many jobs were created."""
    now = now or timezone.now()
    created = 0
    due = ScheduledJob.objects.using(DB).filter(is_active=True, next_run_at__lte=now).values_list("id", flat=True)
    for schedule_id in list(due)[:100]:
        with transaction.atomic(using=DB):
            schedule = ScheduledJob.objects.using(DB).select_for_update().get(pk=schedule_id)
            if not schedule.is_active or schedule.next_run_at is None or schedule.next_run_at > now:
                continue
            run_at = schedule.next_run_at
            key = f"schedule-{schedule.pk}-{run_at:%Y%m%dT%H%M%S}"
            params = template_apply(schedule.template, schedule.params) if schedule.template else schedule.params
            params = {"name": schedule.name, **params}
            try:
                job, made = job_create(
                    actor=Actor(id=schedule.owner_id), request=job_request_of(params), idempotency_key=key
                )
                schedule.last_job, schedule.last_error = job, ""
                created += int(made)
            except ApplicationError as refused:
                schedule.last_error = refused.message
                logger.info("schedule %s: run refused: %s", schedule.pk, refused.message)
            schedule.runs += 1
            upcoming = next_run(recurrence=schedule.recurrence, cron=schedule.cron, after=run_at)
            while upcoming is not None and upcoming <= now:  # a beat that was down does not replay missed runs
                upcoming = next_run(recurrence=schedule.recurrence, cron=schedule.cron, after=upcoming)
            finished = upcoming is None or (schedule.max_runs is not None and schedule.runs >= schedule.max_runs)
            schedule.next_run_at = None if finished else upcoming
            schedule.is_active = not finished
            schedule.save(using=DB)
    return created
