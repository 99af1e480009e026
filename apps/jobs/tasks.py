"""Celery tasks of the jobs context. Each takes ids, is safe to run twice, and never waits for a remote job:
`jobs.dispatch` (beat) hands due jobs out under a lease, `jobs.advance` does one step of one job."""

from __future__ import annotations

from celery import shared_task

from apps.jobs.services.dispatch import jobs_dispatch
from apps.jobs.services.orchestration import job_advance, jobs_reconcile
from apps.jobs.services.schedules import schedules_run


@shared_task(name="jobs.dispatch", ignore_result=True, soft_time_limit=60, time_limit=90)
def jobs_dispatch_task() -> int:
    return jobs_dispatch()


# acks_late + reject_on_worker_lost (settings): a worker killed mid-step gets the message redelivered, and the
# lease token in the message lets the redelivery carry on where the dead worker's lease left off.
@shared_task(name="jobs.advance", ignore_result=True, soft_time_limit=4 * 3600, time_limit=4 * 3600 + 60)
def job_advance_task(job_id: str, lease_token: str) -> None:
    job_advance(job_id=job_id, lease_token=lease_token)


@shared_task(name="jobs.reconcile", ignore_result=True)
def jobs_reconcile_task() -> int:
    return jobs_reconcile()


@shared_task(name="jobs.schedules_run", ignore_result=True, soft_time_limit=120, time_limit=150)
def schedules_run_task() -> int:
    return schedules_run()
