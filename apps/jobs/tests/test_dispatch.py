"""The dispatcher and its leases: due jobs only, one lease per job, a cap per service, a dead worker's job picked up
again, stale messages ignored, stranded jobs repaired by the reconciler."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import InterfaceError, connections
from django.db.backends.signals import connection_created
from django.db.models import QuerySet
from django.utils import timezone

from apps.jobs.models import DB, ImputationJob, Stage, Status
from apps.jobs.services import dispatch, orchestration
from apps.jobs.services.orchestration import job_advance, jobs_reconcile

pytestmark = pytest.mark.django_db(databases=[DB])


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    messages: list[tuple[str, str]] = []
    monkeypatch.setattr(dispatch, "_advance_send", lambda job_id, token: messages.append((str(job_id), token)))
    return messages


def _job(service_id: int = 1, **fields: Any) -> ImputationJob:
    values: dict[str, Any] = {"status": Status.QUEUED, "stage": Stage.SUBMITTED, "next_action_at": timezone.now()}
    return ImputationJob.objects.using(DB).create(owner_id=1, name="j", service_id=service_id, **{**values, **fields})


def test_only_due_unleased_active_jobs_are_sent_once(sent: list[tuple[str, str]]) -> None:
    due = _job()
    _job(next_action_at=timezone.now() + timedelta(minutes=5))  # not yet
    _job(status=Status.COMPLETED, stage=Stage.DONE)  # finished
    _job(auth_paused=True)  # waiting for a token
    assert dispatch.jobs_dispatch() == 1 and [job_id for job_id, _ in sent] == [str(due.pk)]
    assert dispatch.jobs_dispatch() == 0  # leased now: a second beat does not send it again
    due.refresh_from_db()
    assert due.lease_token == sent[0][1] and due.lease_until is not None and due.lease_until > timezone.now()


def test_each_service_gets_at_most_its_cap_of_jobs_in_flight(sent: list[tuple[str, str]], settings: Any) -> None:
    settings.JOBS_SERVICE_CONCURRENCY = 2
    for _ in range(5):
        _job(service_id=1)
    _job(service_id=2)
    assert dispatch.jobs_dispatch() == 3
    services = ImputationJob.objects.using(DB).filter(lease_until__isnull=False).values_list("service_id", flat=True)
    assert sorted(service or 0 for service in services) == [1, 1, 2]


def test_a_lapsed_lease_is_claimed_again_and_the_old_message_is_ignored(sent: list[tuple[str, str]]) -> None:
    job = _job()
    dispatch.jobs_dispatch()
    old_token = sent[0][1]
    ImputationJob.objects.using(DB).filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert dispatch.jobs_dispatch() == 1
    new_token = sent[1][1]
    assert new_token != old_token
    job_advance(job_id=str(job.pk), lease_token=old_token)  # the dead worker's message, redelivered late
    job.refresh_from_db()
    assert job.lease_token == new_token  # untouched: it belongs to the new holder


def test_the_reconciler_makes_stranded_jobs_due_and_sweeps_old_spool(settings: Any, tmp_path: Path) -> None:
    stranded = _job(next_action_at=None)
    fresh_pending = _job(status=Status.PENDING, stage=Stage.QUEUED, next_action_at=None)
    old_pending = _job(status=Status.PENDING, stage=Stage.QUEUED, next_action_at=None)
    ImputationJob.objects.using(DB).filter(pk=old_pending.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    settings.JOBS_SPOOL_DIR = tmp_path / "spool"
    old, new = settings.JOBS_SPOOL_DIR / "submit-old", settings.JOBS_SPOOL_DIR / "submit-new"
    old.mkdir(parents=True), new.mkdir()
    os.utime(old, (time.time() - 3 * 86400, time.time() - 3 * 86400))

    assert jobs_reconcile() == 2

    due = set(ImputationJob.objects.using(DB).filter(next_action_at__isnull=False).values_list("pk", flat=True))
    assert stranded.pk in due and old_pending.pk in due and fresh_pending.pk not in due
    assert not old.exists() and new.exists()


def test_a_finished_step_hands_its_services_slot_to_the_next_due_job_without_waiting_for_beat(
    sent: list[tuple[str, str]], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a service with room for one call at a time, two jobs due there and one due on another service
    settings.JOBS_SERVICE_CONCURRENCY = 1
    first, second, elsewhere = _job(service_id=1), _job(service_id=1), _job(service_id=2)
    ImputationJob.objects.using(DB).filter(pk=second.pk).update(next_action_at=timezone.now() + timedelta(seconds=-1))
    ImputationJob.objects.using(DB).filter(pk=first.pk).update(next_action_at=timezone.now() + timedelta(seconds=-2))
    assert dispatch.jobs_dispatch() == 2  # the beat: the first job of each service
    assert [job_id for job_id, _ in sent] == [str(first.pk), str(elsewhere.pk)]
    monkeypatch.setattr(orchestration, "_step", lambda job: dispatch.job_reschedule(job, seconds=60))
    # when the first job's step is done
    job_advance(job_id=str(first.pk), lease_token=sent[0][1])
    # then its slot went straight to the service's next due job (the other service's job is not its to take)
    assert [job_id for job_id, _ in sent] == [str(first.pk), str(elsewhere.pk), str(second.pk)]
    first.refresh_from_db()
    assert first.lease_token == "" and first.next_action_at is not None and first.next_action_at > timezone.now()


@pytest.mark.django_db(databases=[DB], transaction=True)  # the renewer writes from a thread of its own
def test_a_long_step_renews_its_lease_on_a_connection_opened_for_each_renewal(settings: Any) -> None:
    # given a job under a lease that is renewed every 0.1 s, and a note of each connection opened by its renewer
    settings.JOBS_LEASE_SECONDS = 0.3
    job = _job(lease_token="t", lease_until=timezone.now())
    first_until = job.lease_until
    assert first_until is not None
    opened: list[str] = []

    def note(sender: Any, connection: Any, **kwargs: Any) -> None:
        if connection.alias == DB and threading.current_thread().name.startswith("lease-"):
            opened.append(threading.current_thread().name)

    in_memory = bool(getattr(connections[DB], "is_in_memory_db", lambda: False)())  # Django never closes those
    connection_created.connect(note)
    # when a step runs for three renewals or more
    try:
        with dispatch.lease_kept(job.pk, "t"):
            deadline = time.monotonic() + (0.45 if in_memory else 10)
            while time.monotonic() < deadline and len(opened) < 3:
                time.sleep(0.05)
    finally:
        connection_created.disconnect(note)
    # then the lease was pushed on, each renewal on a connection of its own (none idles between them), except in an
    # in-memory test database
    job.refresh_from_db()
    assert job.lease_until is not None and job.lease_until > first_until
    assert len(opened) == 1 if in_memory else len(opened) >= 3, opened


@pytest.mark.django_db(databases=[DB], transaction=True)  # the renewer writes from a thread of its own
def test_a_renewal_the_database_refused_is_tried_again_at_the_next_period(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a job under a lease renewed every 0.1 s, whose first renewal the database refuses
    settings.JOBS_LEASE_SECONDS = 0.3
    job = _job(lease_token="t", lease_until=timezone.now())
    first_until, tries = job.lease_until, []
    assert first_until is not None
    real_update = QuerySet.update

    def update(queryset: QuerySet[Any], **fields: Any) -> int:
        if threading.current_thread().name.startswith("lease-"):
            tries.append(threading.current_thread().name)
            if len(tries) == 1:
                raise InterfaceError("connection already closed")
        return real_update(queryset, **fields)

    monkeypatch.setattr(QuerySet, "update", update)
    # when a step runs until a second renewal was tried
    with dispatch.lease_kept(job.pk, "t"):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(tries) < 2:
            time.sleep(0.05)
    # then the renewer carried on after the refusal, and the lease was pushed on
    job.refresh_from_db()
    assert len(tries) >= 2
    assert job.lease_until is not None and job.lease_until > first_until
