"""Retention: abandoned uploads and expired files go, stuck validations are queued again, and storage is reconciled
with the database.

Reconciling never deletes on first sight: an object no row owns is recorded as an orphan (and reported), and is
removed only when a later run finds it still unowned after FILES_ORPHAN_GRACE_HOURS. That covers an object whose
row is still being committed, and gives an operator time to notice a database restored from an older backup
before its files are swept away. Rows whose object is missing are reported, never changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.files.models import DB, FileStatus, StorageOrphan, UploadedFile
from apps.files.services.files import file_delete
from apps.files.services.uploads import validation_enqueue
from apps.files.storage import TAIL_SUFFIX, storage_backend

logger = logging.getLogger(__name__)

STORED_PREFIXES = ("uploads", "results")
STUCK_VALIDATION = timedelta(minutes=30)


@dataclass
class RetentionReport:
    uploads_expired: int = 0
    files_expired: int = 0
    validations_requeued: int = 0
    orphans_found: list[str] = field(default_factory=list)
    orphans_deleted: list[str] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)


def uploads_abandoned_delete(*, now: datetime) -> int:
    """Uploads nobody has added to before their expiry (and no PATCH holds right now)."""
    idle = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    abandoned = UploadedFile.objects.using(DB).filter(idle, status=FileStatus.UPLOADING, expires_at__lte=now)
    count = 0
    for file in abandoned.iterator():
        file_delete(file=file)
        count += 1
    return count


def files_expired_delete(*, now: datetime) -> int:
    """Inputs past FILES_INPUT_RETENTION_DAYS and results past the expiry they were registered with."""
    expired = UploadedFile.objects.using(DB).exclude(status=FileStatus.UPLOADING).filter(expires_at__lte=now)
    count = 0
    for file in expired.iterator():
        file_delete(file=file)
        count += 1
    return count


def validations_stuck_requeue(*, now: datetime) -> int:
    """Files left `validating` (a lost message, a worker killed mid-task): the idempotent task runs again."""
    stuck = UploadedFile.objects.using(DB).filter(status=FileStatus.VALIDATING, updated_at__lt=now - STUCK_VALIDATION)
    ids = list(stuck.values_list("pk", flat=True))
    for file_id in ids:
        validation_enqueue(file_id)
    return len(ids)


def _owner_key(key: str) -> str:
    return key.removesuffix(TAIL_SUFFIX)


def storage_reconcile(*, now: datetime, report: RetentionReport) -> None:
    backend = storage_backend()
    grace = timedelta(hours=settings.FILES_ORPHAN_GRACE_HOURS)
    rows = UploadedFile.objects.using(DB).exclude(storage_key="")
    known = set(rows.values_list("storage_key", flat=True))
    present: set[str] = set()
    for prefix in STORED_PREFIXES:
        for stored in backend.objects(prefix):
            present.add(stored.key)
            if _owner_key(stored.key) in known:
                continue
            orphan, created = StorageOrphan.objects.using(DB).get_or_create(
                key=stored.key, defaults={"size": stored.size}
            )
            if created or orphan.deleted_at is not None:
                if orphan.deleted_at is not None:  # back again after a deletion: a new grace period
                    StorageOrphan.objects.using(DB).filter(pk=orphan.pk).update(first_seen_at=now, deleted_at=None)
                report.orphans_found.append(stored.key)
            elif orphan.first_seen_at <= now - grace:
                backend.delete(stored.key)
                StorageOrphan.objects.using(DB).filter(pk=orphan.pk).update(deleted_at=now)
                report.orphans_deleted.append(stored.key)
    complete = rows.exclude(status=FileStatus.UPLOADING).values_list("pk", "storage_key")
    report.missing = sorted(pk for pk, key in complete if key not in present)
    if report.orphans_found or report.orphans_deleted or report.missing:
        logger.warning(
            "storage reconciliation: %d new orphan(s) %s, %d orphan(s) deleted after the grace period %s, "
            "%d file(s) whose bytes are missing %s",
            len(report.orphans_found),
            report.orphans_found[:20],
            len(report.orphans_deleted),
            report.orphans_deleted[:20],
            len(report.missing),
            report.missing[:20],
        )


def retention_run(*, now: datetime | None = None) -> RetentionReport:
    now = now or timezone.now()
    report = RetentionReport()
    report.uploads_expired = uploads_abandoned_delete(now=now)
    report.files_expired = files_expired_delete(now=now)
    report.validations_requeued = validations_stuck_requeue(now=now)
    storage_reconcile(now=now, report=report)
    return report
