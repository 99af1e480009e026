"""The events the files context publishes: `file.upload.completed`, once a completed upload has been judged by the
pre-flight checks. Recorded in the files outbox inside the transaction that sets the verdict, so the event exists
exactly when the status does.
"""

from __future__ import annotations

from typing import Any

from apps.files.models import OutboxEvent, UploadedFile
from apps.kernel.envelope import FILE_UPLOAD_COMPLETED
from apps.kernel.outbox import outbox_record

PROBLEMS_IN_EVENT = 10  # the event names the first errors; the full report stays with the file


def file_upload_completed_record(file: UploadedFile) -> None:
    """The verdict on a completed upload, for the jobs context (which inputs are usable) and notifications."""
    problems: list[dict[str, Any]] = list((file.validation_report or {}).get("problems") or [])
    errors = [problem for problem in problems if problem.get("severity") == "error"]
    outbox_record(
        outbox=OutboxEvent,
        topic=FILE_UPLOAD_COMPLETED,
        aggregate_id=file.pk,
        payload={
            "file_id": file.pk,
            "owner_id": file.owner_id,
            "name": file.name,
            "kind": file.kind,
            "size": file.size,
            "sha256": file.sha256,
            "status": file.status,
            "job_id": file.job_id or None,
            "errors": [{"code": e.get("code"), "message": e.get("message")} for e in errors[:PROBLEMS_IN_EVENT]],
            "error_count": len(errors),
            "warning_count": sum(1 for problem in problems if problem.get("severity") == "warning"),
        },
    )
