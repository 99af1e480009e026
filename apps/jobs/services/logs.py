"""Remote step messages, stored once each however many polls repeat them (the remote sends its whole log)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from django.db.models import Max
from django.utils import timezone

from apps.connectors.public import LogEntry
from apps.jobs.models import DB, ImputationJob, JobLog

MESSAGE_MAX = 8000


def job_logs_store(job: ImputationJob, entries: Sequence[LogEntry]) -> int:
    """Append the entries not stored yet, in the remote's order; returns how many were new."""
    if not entries:
        return 0
    known = set(JobLog.objects.using(DB).filter(job=job).values_list("digest", flat=True))
    next_index = (JobLog.objects.using(DB).filter(job=job).aggregate(top=Max("index"))["top"] or 0) + 1
    new = []
    for entry in entries:
        digest = hashlib.sha256(f"{entry.source}\x00{entry.message}".encode()).hexdigest()
        if digest in known:
            continue
        known.add(digest)
        new.append(
            JobLog(
                job=job,
                step=entry.source[:200],
                index=next_index,
                level=entry.level,
                message=entry.message[:MESSAGE_MAX],
                digest=digest,
                time=entry.time or timezone.now(),
                url=entry.url[:1000],
            )
        )
        next_index += 1
    JobLog.objects.using(DB).bulk_create(new, ignore_conflicts=True)
    return len(new)
