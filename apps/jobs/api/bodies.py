"""How jobs, their history and logs, templates and schedules look in API bodies (API_CONTRACT.md "jobs context")."""

from __future__ import annotations

from typing import Any

from apps.jobs.models import ImputationJob, JobLog, JobStatusUpdate, JobTemplate, ScheduledJob
from apps.kernel.timestamps import timestamp


def job_body(job: ImputationJob, *, detail: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(job.pk),
        "name": job.name,
        "description": job.description,
        "user_id": job.owner_id,
        "service": {"id": job.service_id, "name": job.service_name, "slug": job.service_slug}
        if job.service_id is not None
        else None,
        "reference_panel": {"id": job.panel_id, "name": job.panel_name, "slug": job.panel_slug}
        if job.panel_id is not None
        else None,
        "parent_id": str(job.parent_id) if job.parent_id else None,
        "is_batch": job.is_batch,
        "status": job.status,
        "stage": job.stage,
        "progress": job.progress,
        "message": job.message,
        "queue_position": job.queue_position,
        "external_job_id": job.external_job_id or None,
        "build": job.build,
        "phasing": job.phasing,
        "population": job.population,
        "mode": job.mode,
        "r2_filter": job.r2_filter,
        "input_format": job.input_format,
        "input_files": list(job.input_file_ids),
        "result_files": [
            {key: entry.get(key) for key in ("file_id", "name", "result_type", "size", "sha256")}
            for entry in job.results
            if entry.get("file_id")
        ],
        "error": {"category": job.failure_category, "message": job.failure_message} if job.failure_category else None,
        "auth_paused": job.auth_paused,
        "auth_message": job.auth_message or None,
        "cancel_requested": job.cancel_requested_at is not None,
        "attempt": job.attempt,
        "retry_of": str(job.retry_of_id) if job.retry_of_id else None,
        "created_at": timestamp(job.created_at),
        "started_at": timestamp(job.started_at),
        "completed_at": timestamp(job.completed_at),
        "duration_seconds": job.duration_seconds,
        "retire_at": timestamp(job.retire_at),
    }
    if detail:
        body["qc_summary"] = job.qc_summary or None
        body["remote_state"] = job.remote_state_raw or None
        if job.is_batch:
            body["children"] = [job_body(child) for child in job.children.order_by("created_at", "pk")]
    return body


def job_bodies(jobs: list[ImputationJob]) -> list[dict[str, Any]]:
    return [job_body(job) for job in jobs]


def history_bodies(rows: list[JobStatusUpdate]) -> list[dict[str, Any]]:
    return [
        {
            "status": row.status,
            "stage": row.stage,
            "progress": row.progress,
            "message": row.message,
            "remote_state": row.remote_state or None,
            "timestamp": timestamp(row.created_at),
        }
        for row in rows
    ]


def log_bodies(rows: list[JobLog]) -> list[dict[str, Any]]:
    return [
        {
            "step": row.step,
            "index": row.index,
            "level": row.level,
            "message": row.message,
            "time": timestamp(row.time),
            "url": row.url or None,
        }
        for row in rows
    ]


def template_body(template: JobTemplate) -> dict[str, Any]:
    return {
        "id": template.pk,
        "name": template.name,
        "description": template.description,
        "params": template.params,
        "created_at": timestamp(template.created_at),
        "updated_at": timestamp(template.updated_at),
    }


def schedule_body(schedule: ScheduledJob) -> dict[str, Any]:
    return {
        "id": schedule.pk,
        "name": schedule.name,
        "params": schedule.params,
        "template": schedule.template_id,
        "recurrence": schedule.recurrence,
        "cron": schedule.cron,
        "next_run_at": timestamp(schedule.next_run_at),
        "max_runs": schedule.max_runs,
        "runs": schedule.runs,
        "is_active": schedule.is_active,
        "last_job_id": str(schedule.last_job_id) if schedule.last_job_id else None,
        "last_error": schedule.last_error or None,
        "created_at": timestamp(schedule.created_at),
    }
