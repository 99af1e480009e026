"""The job state machine: the allowed moves, and a property test that random remote state sequences never make
a job leave a terminal state or change state without a history row."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.connectors import states as remote
from apps.connectors.public import RemoteStatus
from apps.jobs.models import DB, ImputationJob, JobStatusUpdate, Stage, Status
from apps.jobs.services.orchestration import job_status_apply
from apps.jobs.services.transitions import job_transition
from apps.jobs.states import TERMINAL, TransitionError, transition_check

pytestmark = pytest.mark.django_db(databases=[DB])


def _job(**fields: Any) -> ImputationJob:
    return ImputationJob.objects.using(DB).create(
        owner_id=1, name="j", service_id=2, panel_id=3, external_job_id="job-1", password_encrypted="", **fields
    )


@pytest.mark.parametrize(
    ("here", "there"),
    [
        (("pending", "queued"), ("queued", "queued")),
        (("queued", "queued"), ("queued", "submitting")),
        (("queued", "submitting"), ("queued", "queued")),
        (("queued", "submitted"), ("running", "downloading")),
        (("running", "exporting"), ("running", "downloading")),
        (("running", "downloading"), ("completed", "done")),
        (("running", "running"), ("failed", "running")),
        (("queued", "queued"), ("cancelled", "queued")),
    ],
)
def test_allowed_moves_pass(here: tuple[str, str], there: tuple[str, str]) -> None:
    transition_check(status=here[0], stage=here[1], to_status=there[0], to_stage=there[1])


@pytest.mark.parametrize(
    ("here", "there", "why"),
    [
        (("completed", "done"), ("running", "running"), "never changes state"),
        (("failed", "running"), ("failed", "running"), "never changes state"),
        (("running", "running"), ("completed", "done"), "only after its results are downloaded"),
        (("running", "exporting"), ("running", "running"), "never moves back"),
        (("queued", "submitted"), ("queued", "queued"), "never moves back"),
        (("pending", "queued"), ("running", "running"), "queued before anything else"),
        (("running", "running"), ("failed", "queued"), "stops at the stage it reached"),
        (("queued", "queued"), ("running", "queued"), "does not go with stage"),
    ],
)
def test_forbidden_moves_are_refused_with_the_reason(here: tuple[str, str], there: tuple[str, str], why: str) -> None:
    with pytest.raises(TransitionError, match=why):
        transition_check(status=here[0], stage=here[1], to_status=there[0], to_stage=there[1])


def test_a_transition_appends_history_and_an_event_in_one_go() -> None:
    # given a queued job
    job = _job(status=Status.QUEUED, stage=Stage.QUEUED)
    # when it moves to submitting
    moved = job_transition(job, stage=Stage.SUBMITTING, progress=1, message="Uploading")
    # then the row, the projection and the event agree
    assert moved is True
    row = JobStatusUpdate.objects.using(DB).get(job=job)
    assert (row.status, row.stage, row.progress, row.message) == ("queued", "submitting", 1, "Uploading")
    job.refresh_from_db()
    assert (job.status, job.stage, job.progress) == ("queued", "submitting", 1)
    from apps.jobs.models import OutboxEvent

    event = OutboxEvent.objects.using(DB).get(topic="job.status.updated")
    assert event.payload["status"] == "queued" and event.payload["stage"] == "submitting"
    assert event.payload["previous_status"] == "queued" and event.payload["job_id"] == str(job.pk)


def test_a_repeated_identical_update_writes_nothing() -> None:
    job = _job(status=Status.RUNNING, stage=Stage.RUNNING, progress=30, message="Imputing")
    assert job_transition(job, stage=Stage.RUNNING, progress=30, message="Imputing") is False
    assert JobStatusUpdate.objects.using(DB).filter(job=job).count() == 0


def test_history_rows_cannot_be_edited() -> None:
    job = _job(status=Status.QUEUED, stage=Stage.QUEUED)
    job_transition(job, stage=Stage.SUBMITTING)
    row = JobStatusUpdate.objects.using(DB).get(job=job)
    row.message = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        row.save()


CLOUDGENE_CODES = st.sampled_from(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "-1"])
WES_CODES = st.sampled_from(list(remote.WES_STATES))


def _remote_status(raw: str, seen: list[str], *, wes: bool) -> RemoteStatus:
    mapped = (
        remote.wes_state_map(raw, seen=seen, failure_message="boom")
        if wes
        else remote.cloudgene_state_map(int(raw), seen=seen, failure_message="boom")
    )
    return RemoteStatus(
        remote_job_id="job-1",
        raw_state=raw,
        state=mapped.state,
        finished=mapped.finished,
        failure_category=mapped.failure_category,
        failure_message=mapped.failure_message,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wes=st.booleans(), data=st.data())
def test_random_remote_sequences_never_leave_a_terminal_state_or_skip_history(wes: bool, data: st.DataObject) -> None:
    # given a submitted job and a random sequence of raw remote states
    codes = data.draw(st.lists(WES_CODES if wes else CLOUDGENE_CODES, min_size=1, max_size=12))
    job = _job(status=Status.QUEUED, stage=Stage.SUBMITTED, next_action_at=None)
    seen_positions: list[tuple[str, str, int]] = []
    for raw in codes:
        before = (job.status, job.stage, job.progress)
        history_before = JobStatusUpdate.objects.using(DB).filter(job=job).count()
        # when each is applied as a poll would
        if job.status in TERMINAL:
            with pytest.raises(TransitionError):
                job_transition(job, stage=Stage.RUNNING)
        else:
            job_status_apply(job, _remote_status(raw, list(job.remote_states_seen), wes=wes))
        job.refresh_from_db()
        after = (job.status, job.stage, job.progress)
        history_after = JobStatusUpdate.objects.using(DB).filter(job=job).count()
        # then a terminal job stays as it was, and every change of position has exactly one new row
        if before[0] in TERMINAL:
            assert after == before and history_after == history_before
        elif after != before:
            assert history_after == history_before + 1
            last = JobStatusUpdate.objects.using(DB).filter(job=job).last()
            assert last is not None and (last.status, last.stage, last.progress) == after
        else:
            assert history_after == history_before
        seen_positions.append(after)
    assert all(status != Status.COMPLETED for status, _, _ in seen_positions)  # only a download completes a job
