"""The node's Celery tasks, on its own `node` queue (CELERY_TASK_ROUTES)."""

from __future__ import annotations

import threading

from celery import shared_task
from django.conf import settings
from django.db import transaction

from apps.node import engine, pipeline
from apps.node.models import NodeJob


@shared_task(name="node.run_job", acks_late=True, soft_time_limit=14 * 60, time_limit=15 * 60)
def run_job(job_id: str) -> None:
    pipeline.run(job_id)


@shared_task(name="node.retention")
def retention() -> dict[str, int]:
    return engine.retention()


def run_inline(job_id: str) -> None:
    """NODE_EXECUTOR=inline (tests, a node without a worker): the pipeline in a thread of this process."""
    threading.Thread(target=pipeline.run, args=(job_id,), name=f"node-{job_id}", daemon=True).start()


def enqueue(job: NodeJob) -> None:
    """Run the pipeline on the node's queue once the job row is committed (NODE_EXECUTOR=inline: in-process)."""

    def send() -> None:
        if settings.NODE_EXECUTOR == "inline":
            run_inline(job.pk)
        else:
            run_job.apply_async((job.pk,), queue="node")

    transaction.on_commit(send, using="node")
