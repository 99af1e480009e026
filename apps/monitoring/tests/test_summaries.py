"""The analytics' per-day summaries: stored rows answer exactly as the job projection does, a day whose jobs
changed since is read from the projection until it is summarised again, and a late older event changes nothing."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import F

from apps.monitoring.models import JobDay, JobDaySummary, JobFact
from apps.monitoring.selectors.jobs import analytics_report, job_days_unsummarised, window_of
from apps.monitoring.services.projections import job_fact_apply
from apps.monitoring.services.summaries import job_days_summarise
from apps.monitoring.tests.factories import T0, job_event, job_make

pytestmark = pytest.mark.django_db(databases=["monitoring"])

DAY = timedelta(days=1)
DAY_1, DAY_2, DAY_3 = T0.date(), (T0 + DAY).date(), (T0 + 2 * DAY).date()


def _report() -> dict[str, Any]:
    return analytics_report(window=window_of(days=7, end=DAY_3 + 2 * DAY))


def _seed() -> None:
    job_make("completed", created_at=T0, ran=600)
    job_make("completed", created_at=T0 + timedelta(hours=1), ran=1200, service_id=5)
    job_make("failed", created_at=T0 + timedelta(hours=2), failure_category="remote_error", ran=30)
    job_make("running", created_at=T0 + DAY, queued=120)
    job_make("pending", created_at=T0 + DAY, service_id=5, queued=None)
    job_make("cancelled", created_at=T0 + 2 * DAY, ran=10)
    job_make("completed", created_at=T0 + 2 * DAY, service_id=None)  # a batch parent: never counted


def test_summarised_days_answer_exactly_as_the_projection_does() -> None:
    _seed()
    live = _report()
    assert job_days_unsummarised() == [DAY_1, DAY_2, DAY_3]

    done = job_days_summarise()

    assert done == 3
    assert job_days_unsummarised() == []
    assert sorted(JobDaySummary.objects.using("monitoring").values_list("day", "service_id")) == [
        (DAY_1, 3), (DAY_1, 5), (DAY_2, 3), (DAY_2, 5), (DAY_3, 3)
    ]  # fmt: skip
    assert _report() == live
    assert live["totals"]["jobs"] == 6
    assert live["durations"]["max_seconds"] == 1200.0


def test_the_report_reads_the_stored_summary_of_a_current_day() -> None:
    _seed()
    live = _report()
    job_days_summarise()

    JobDaySummary.objects.using("monitoring").filter(day=DAY_1, service_id=3).update(completed=F("completed") + 100)

    assert _report()["totals"]["by_status"]["completed"] == live["totals"]["by_status"]["completed"] + 100


def test_a_job_that_changes_after_its_day_was_summarised_counts_at_once() -> None:
    job = job_make("running", created_at=T0, queued=60)
    job_days_summarise()

    job_make("completed", job_id=job.job_id, created_at=T0, queued=60, ran=900)

    assert job_days_unsummarised() == [DAY_1]
    report = _report()
    assert report["totals"]["by_status"]["running"] == 0
    assert report["totals"]["by_status"]["completed"] == 1
    assert report["durations"]["avg_seconds"] == 900.0
    job_days_summarise()
    assert job_days_unsummarised() == []
    assert _report() == report


def test_a_job_moved_to_another_submission_day_leaves_the_old_days_summary() -> None:
    job = job_make("completed", created_at=T0, ran=600)
    job_days_summarise()

    job_make("completed", job_id=job.job_id, created_at=T0 + DAY, ran=600)

    assert job_days_unsummarised() == [DAY_1, DAY_2]
    assert [row["date"] for row in _report()["jobs_per_service_per_day"]] == [DAY_2.isoformat()]


def test_a_late_older_event_leaves_the_summary_current() -> None:
    job = job_make("completed", created_at=T0, ran=600)
    job_days_summarise()
    version = JobDay.objects.using("monitoring").get(day=DAY_1).version

    late = job_event(status="running", job_id=job.job_id, created_at=T0, occurred_at=T0 + timedelta(seconds=90))

    assert job_fact_apply(envelope=late) is None
    assert JobDay.objects.using("monitoring").get(day=DAY_1).version == version
    assert job_days_unsummarised() == []
    assert _report()["totals"]["by_status"]["completed"] == 1


def test_the_command_rebuilds_every_summary_after_a_write_that_bypassed_the_projection() -> None:
    _seed()
    job_days_summarise()
    JobFact.objects.using("monitoring").filter(created_day=DAY_2, status="running").update(status="failed")
    assert _report()["totals"]["by_status"]["failed"] == 1  # the stale summary is still trusted

    call_command("monitoring_summarise", "--all", stdout=io.StringIO())

    assert _report()["totals"]["by_status"]["failed"] == 2
    assert job_days_unsummarised() == []
