"""The analytics' per-day summaries (JobDaySummary), recomputed for the days whose jobs changed since.

The analytics are right without them (a day without a current summary is aggregated from JobFact on every read);
the summaries only make a long window cheap. Each day is redone in its own transaction with its JobDay locked,
so a projection that changes the day meanwhile waits, then moves the version on past the one recorded here.
"""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.db.models import F

from apps.monitoring.models import DAY_ROW_FIELDS, DB, JobDay, JobDaySummary
from apps.monitoring.selectors.jobs import job_day_groups, job_days_unsummarised


def job_day_summarise(*, day: date) -> int:
    """Replace the day's summary rows with a fresh grouped pass; returns how many rows it has now."""
    with transaction.atomic(using=DB):
        mark = JobDay.objects.using(DB).select_for_update().filter(day=day).first()
        if mark is None or mark.summarised == mark.version:  # unknown, or done meanwhile by an overlapping run
            return JobDaySummary.objects.using(DB).filter(day=day).count()
        rows = [JobDaySummary(**dict(zip(DAY_ROW_FIELDS, row, strict=True))) for row in job_day_groups(days=[day])]
        JobDaySummary.objects.using(DB).filter(day=day).delete()
        JobDaySummary.objects.using(DB).bulk_create(rows)
        JobDay.objects.using(DB).filter(pk=mark.pk).update(summarised=mark.version)
    return len(rows)


def job_days_summarise() -> int:
    """Bring every stale day's summary up to date (the beat task `monitoring.summarise`); returns the days done."""
    days = job_days_unsummarised()
    for day in days:
        job_day_summarise(day=day)
    return len(days)


def job_days_invalidate() -> int:
    """Mark every day changed, so the next summarising rebuilds all of them; returns the days marked."""
    return JobDay.objects.using(DB).update(version=F("version") + 1)
