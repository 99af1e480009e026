from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apps.node import engine, states
from apps.node.models import NodeJob, NodeUser

pytestmark = pytest.mark.django_db(databases=["node"])


def _job(user: NodeUser, state: int = states.WAITING) -> NodeJob:
    job = engine.job_create(user, name="x", params={}, password="")
    NodeJob.objects.filter(pk=job.pk).update(state=state)
    job.refresh_from_db()
    return job


def test_job_ids_follow_cloudgenes_format_and_stay_unique(user: NodeUser) -> None:
    first, second = _job(user), _job(user)

    assert first.id.startswith("job-") and len(first.id) == len("job-20250101-120000-000")
    assert first.id != second.id


@pytest.mark.parametrize(
    ("start", "target", "allowed"),
    [
        (states.WAITING, states.RUNNING, True),
        (states.RUNNING, states.EXPORTING, True),
        (states.EXPORTING, states.SUCCESS, True),
        (states.WAITING, states.SUCCESS, False),
        (states.SUCCESS, states.CANCELED, False),
        (states.CANCELED, states.FAILED_NOTIFIED, True),
        (states.DEAD, states.WAITING, True),
        (states.FAILED, states.WAITING, False),
    ],
)
def test_transitions_follow_cloudgene(user: NodeUser, start: int, target: int, allowed: bool) -> None:
    job = _job(user, start)

    assert engine.transition(job, target) is allowed
    assert NodeJob.objects.get(pk=job.pk).state == (target if allowed else start)


def test_cancel_stops_queued_and_running_jobs_and_is_a_no_op_otherwise(user: NodeUser) -> None:
    queued, running, done = _job(user), _job(user, states.RUNNING), _job(user, states.SUCCESS)

    assert [engine.cancel(job).state for job in (queued, running, done)] == [6, 6, 4]


def test_a_server_restart_makes_active_jobs_dead_and_only_dead_jobs_restart(user: NodeUser, queued: list[str]) -> None:
    active = [_job(user, state) for state in (states.WAITING, states.RUNNING, states.EXPORTING)]
    finished = _job(user, states.SUCCESS)

    assert engine.server_restart() == 3
    assert [NodeJob.objects.get(pk=job.pk).state for job in active] == [-1, -1, -1]
    assert engine.restart(finished) is False
    assert engine.restart(NodeJob.objects.get(pk=active[0].pk)) is True
    assert NodeJob.objects.get(pk=active[0].pk).state == states.WAITING


def test_retention_notifies_then_retires_and_removes_the_workspace(user: NodeUser) -> None:
    done, failed, cancelled = _job(user, states.SUCCESS), _job(user, states.FAILED), _job(user, states.CANCELED)
    ended = timezone.now()
    NodeJob.objects.update(end_time=ended)

    first = engine.retention(at=ended + timedelta(days=4, minutes=1))
    later = engine.retention(at=ended + timedelta(days=6, minutes=2))

    assert first == {"notified": 1, "failed_notified": 2, "retired": 0}
    assert later == {"notified": 0, "failed_notified": 0, "retired": 3}
    assert [NodeJob.objects.get(pk=job.pk).state for job in (done, failed, cancelled)] == [7, 7, 7]
    assert not Path(done.workspace).exists()
