"""When a job is next due, and who may act on it: the dispatcher, the leases and the rescheduling.

Every active job has `next_action_at`. The beat task `jobs.dispatch` hands due jobs to workers, each under a
lease (`lease_until`, `lease_token`) claimed by one conditional UPDATE: so at most one worker acts on a job at a
time (one poll in flight per job), a per-service cap bounds calls in flight to each service, and a job whose worker
died is simply due again once its lease lapses. Long transfers renew their lease while they run (`lease_kept`).
Tasks are looked up by name, so this module needs nothing of the task module.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import Error, connections, transaction
from django.db.models import Q
from django.utils import timezone

from apps.jobs.models import DB, ImputationJob, Stage
from apps.jobs.states import ACTIVE, TERMINAL

logger = logging.getLogger(__name__)

ADVANCE_TASK = "jobs.advance"


def _advance_send(job_id: uuid.UUID | str, token: str) -> None:
    task = current_app.tasks[ADVANCE_TASK]  # by name (no import of apps.jobs.tasks); eager mode still applies
    task.apply_async(args=(str(job_id), token), queue=settings.JOBS_CELERY_QUEUE)


def jobs_dispatch(*, limit: int | None = None, service_id: int | None = None) -> int:
    """Hand due jobs to workers (oldest due first), at most JOBS_SERVICE_CONCURRENCY in flight per service.

    Beat calls it for every service; a worker that has just finished a job calls it for that job's service alone
    (`job_advance`), so a freed slot goes to the next due job at once instead of waiting for the next beat: polls
    per service are then bounded by the workers' pace, not by the cap per beat period.
    """
    now = timezone.now()
    free = ~Q(lease_until__gt=now)
    scope = Q(service_id=service_id) if service_id is not None else Q(service_id__isnull=False)
    due = list(
        ImputationJob.objects.using(DB)
        .filter(free, scope, status__in=ACTIVE, auth_paused=False, next_action_at__lte=now)
        .order_by("next_action_at")
        .values_list("id", "service_id")[: limit or settings.JOBS_DISPATCH_BATCH]
    )
    if not due:
        return 0
    busy = Counter(
        ImputationJob.objects.using(DB)
        .filter(lease_until__gt=now, status__in=ACTIVE)
        .values_list("service_id", flat=True)
    )
    sent = 0
    for job_id, service_id in due:
        if busy[service_id] >= settings.JOBS_SERVICE_CONCURRENCY:
            continue
        token = _lease_claim(job_id)
        if token is None:
            continue
        busy[service_id] += 1
        _advance_send(job_id, token)
        sent += 1
    return sent


def job_kick(*, job_id: uuid.UUID | str) -> None:
    """Advance one job now rather than at the next dispatch (after a create, cancel or resume)."""
    token = _lease_claim(job_id)
    if token is not None:
        _advance_send(job_id, token)


def _lease_claim(job_id: uuid.UUID | str) -> str | None:
    now = timezone.now()
    token = uuid.uuid4().hex
    claimed = (
        ImputationJob.objects.using(DB)
        .filter(~Q(lease_until__gt=now), pk=job_id, status__in=ACTIVE)
        .update(lease_until=now + timedelta(seconds=settings.JOBS_LEASE_SECONDS), lease_token=token)
    )
    return token if claimed else None


@contextmanager
def lease_kept(job_id: uuid.UUID | str, token: str) -> Iterator[None]:
    """Renew the lease every third of its length while the body runs (an upload or download may take hours), on a
    connection opened for each renewal: one kept between renewals would sit idle for the whole transfer."""
    stop = threading.Event()
    period = settings.JOBS_LEASE_SECONDS / 3

    def renew() -> None:
        while not stop.wait(period):
            try:
                ImputationJob.objects.using(DB).filter(pk=job_id, lease_token=token).update(
                    lease_until=timezone.now() + timedelta(seconds=settings.JOBS_LEASE_SECONDS)
                )
            except Error:  # the database is away or full: the next period tries again, the lease still runs
                logger.warning("job %s: its lease could not be renewed; trying again in %g s", job_id, period)
            finally:
                connections[DB].close()

    renewer = threading.Thread(target=renew, name=f"lease-{job_id}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join(timeout=5)


def jobs_auth_resume(*, owner_id: int, service_id: int) -> int:
    """The owner replaced their token for a service: jobs paused for auth there try again now."""
    resumed = ImputationJob.objects.using(DB).filter(
        owner_id=owner_id, service_id=service_id, auth_paused=True, status__in=ACTIVE
    )
    ids = list(resumed.values_list("id", flat=True))
    resumed.update(auth_paused=False, auth_message="", next_action_at=timezone.now())
    for job_id in ids:
        transaction.on_commit(partial(job_kick, job_id=job_id), using=DB)
    return len(ids)


def job_reschedule(
    job: ImputationJob, *, seconds: float | None = None, backoff: bool = False, retry_after: float | None = None
) -> None:
    """Set when the job is next due: after a poll interval by stage (jittered), or a backoff after failures."""
    job.refresh_from_db(using=DB)
    if job.status in TERMINAL or job.auth_paused:
        return
    failures = job.transient_failures
    if backoff:
        failures += 1
        delay = min(settings.JOBS_BACKOFF_MAX_SECONDS, settings.JOBS_POLL_RUNNING_SECONDS * 2 ** min(failures, 10))
        if retry_after:
            delay = max(delay, min(retry_after, settings.JOBS_BACKOFF_MAX_SECONDS))
    elif seconds is not None:
        delay = seconds
    elif job.stage == Stage.SUBMITTED or job.stage == Stage.QUEUED:
        delay = settings.JOBS_POLL_QUEUED_SECONDS
    else:
        delay = settings.JOBS_POLL_RUNNING_SECONDS
    jitter = settings.JOBS_POLL_JITTER
    delay *= random.uniform(1 - jitter, 1 + jitter) if delay else 1  # noqa: S311 (spreading, not security)
    ImputationJob.objects.using(DB).filter(pk=job.pk).update(
        next_action_at=timezone.now() + timedelta(seconds=delay), transient_failures=failures
    )
    job.transient_failures = failures
