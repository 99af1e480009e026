"""The projections of other contexts' events: one JobFact per job (late events ignored), each service's health with
when it went down, completed uploads; once per event through the kernel's runner, malformed payloads refused."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from apps.kernel.consumers import ConsumerRunner, registered_consumers
from apps.kernel.envelope import EnvelopeError
from apps.monitoring.consumers import job_facts_project, service_states_project, upload_facts_project
from apps.monitoring.models import InboxEntry, JobFact, ServiceState, UploadFact
from apps.monitoring.tests.factories import T0, health_event, job_event, upload_event

pytestmark = pytest.mark.django_db(databases=["monitoring"])


def _facts() -> list[dict[str, Any]]:
    fields = ("status", "stage", "progress", "failure_category", "queue_seconds", "duration_seconds", "created_day")
    return [dict(row) for row in JobFact.objects.using("monitoring").values(*fields)]


def test_a_job_is_projected_with_its_queue_time_and_run_time() -> None:
    job_id = uuid.uuid4()
    started, completed = T0 + timedelta(seconds=90), T0 + timedelta(seconds=90 + 1800)

    job_facts_project(job_event(job_id=job_id, status="completed", started_at=started, completed_at=completed))

    fact = JobFact.objects.using("monitoring").get()
    assert (fact.job_id, fact.user_id, fact.service_id, fact.panel_id, fact.parent_id) == (job_id, 7, 3, 11, None)
    assert _facts() == [
        {
            "status": "completed",
            "stage": "done",
            "progress": 100,
            "failure_category": "",
            "queue_seconds": 90.0,
            "duration_seconds": 1800.0,
            "created_day": T0.date(),
        }
    ]
    assert (fact.created_at, fact.started_at, fact.completed_at, fact.event_at) == (T0, started, completed, completed)


def test_each_newer_event_moves_the_job_on_and_a_late_older_one_is_ignored() -> None:
    job_id = uuid.uuid4()
    queued = job_event(job_id=job_id, status="queued", occurred_at=T0)
    running = job_event(job_id=job_id, status="running", started_at=T0 + timedelta(minutes=1))
    failed = job_event(
        job_id=job_id,
        status="failed",
        started_at=T0 + timedelta(minutes=1),
        completed_at=T0 + timedelta(minutes=5),
        failure_category="remote_error",
    )

    job_facts_project(queued)
    job_facts_project(failed)
    job_facts_project(running)  # delivered late: older than the failure already applied

    assert _facts() == [
        {
            "status": "failed",
            "stage": "done",
            "progress": 0,
            "failure_category": "remote_error",
            "queue_seconds": 60.0,
            "duration_seconds": 240.0,
            "created_day": T0.date(),
        }
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"job_id": "not-a-uuid"}, "job_id (uuid)"),
        ({"user_id": None}, "user_id"),
        ({"status": "exploded"}, "unknown status 'exploded'"),
        ({"created_at": "yesterday"}, "created_at is not an ISO-8601 timestamp"),
    ],
)
def test_a_malformed_job_event_is_refused_so_the_kernel_parks_it(change: dict[str, object], problem: str) -> None:
    event = job_event(status="queued")
    event.payload.update(change)

    with pytest.raises(EnvelopeError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        job_facts_project(event)

    assert JobFact.objects.using("monitoring").count() == 0


def test_the_runner_applies_a_redelivered_job_event_once() -> None:
    [c] = [c for c in registered_consumers() if c.name == "monitoring.job_facts"]
    event = job_event(status="queued")
    runner = ConsumerRunner([c], client=None)  # apply() never touches Redis

    runner.apply(c, event)
    JobFact.objects.using("monitoring").update(status="running")  # what a later event would have done
    runner.apply(c, event)

    assert JobFact.objects.using("monitoring").get().status == "running"
    assert InboxEntry.objects.using("monitoring").filter(consumer=c.name, event_id=event.id).count() == 1


def test_a_service_stays_down_since_it_first_stopped_answering_and_comes_back_up() -> None:
    went_down = T0
    service_states_project(health_event(service_id=4, status="unhealthy", checked_at=went_down))
    service_states_project(
        health_event(service_id=4, status="timeout", previous="unhealthy", checked_at=T0 + timedelta(minutes=5))
    )
    still_down = ServiceState.objects.using("monitoring").get()

    service_states_project(
        health_event(service_id=4, status="healthy", previous="timeout", checked_at=T0 + timedelta(minutes=9))
    )
    back = ServiceState.objects.using("monitoring").get()

    assert (still_down.status, still_down.down_since, still_down.previous) == ("timeout", went_down, "unhealthy")
    assert (back.status, back.down_since, back.slug, back.response_time_ms) == ("healthy", None, "svc-4", 120)


def test_completed_uploads_are_kept_with_their_size_and_verdict() -> None:
    upload_facts_project(upload_event(file_id=1, size=1_000))
    upload_facts_project(upload_event(file_id=2, size=50, status="rejected"))
    upload_facts_project(upload_event(file_id=1, size=1_000))  # the same verdict again

    assert list(
        UploadFact.objects.using("monitoring").order_by("file_id").values_list("file_id", "size", "status")
    ) == [
        (1, 1_000, "ready"),
        (2, 50, "rejected"),
    ]
