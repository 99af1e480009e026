"""Reads over the job projection (JobFact): a caller's dashboard, the admins' analytics, and the figures the alert
rules and metrics need. Each is a handful of grouped queries served by JobFact's indexes, so they stay well under
200 ms at 100k jobs (tests/benchmarks/monitoring/run.py measures them).

Success rate everywhere is completed / (completed + failed): cancelled jobs say nothing about a service.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import OperationalError, connections
from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.utils import timezone

from apps.monitoring.models import (
    ACTIVE_JOB_STATUSES,
    DAY_ROW_FIELDS,
    DB,
    JOB_STATUSES,
    RUNS,
    SUMMARY_TIMES,
    JobDay,
    JobDaySummary,
    JobFact,
    ServiceState,
)

RECENT_JOBS = 10


def success_rate(completed: int, failed: int) -> float | None:
    finished = completed + failed
    return None if finished == 0 else round(completed / finished, 4)


def job_facts() -> QuerySet[JobFact]:
    return JobFact.objects.using(DB)


def job_runs() -> QuerySet[JobFact]:
    """Jobs that run on a service: every count leaves batch parents out (their children are the runs)."""
    return job_facts().filter(RUNS)


@dataclass(frozen=True)
class DashboardJobs:
    by_status: dict[str, int]
    recent: list[JobFact]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def active(self) -> int:
        return sum(self.by_status[s] for s in ACTIVE_JOB_STATUSES)

    @property
    def success_rate(self) -> float | None:
        return success_rate(self.by_status["completed"], self.by_status["failed"])


def dashboard_jobs(*, user_id: int, recent: int = RECENT_JOBS) -> DashboardJobs:
    """The caller's totals by status (every status present, zeros included; runs only) and their newest jobs."""
    by_status = dict.fromkeys(JOB_STATUSES, 0)
    for row in job_runs().filter(user_id=user_id).order_by().values("status").annotate(n=Count("id")):
        by_status[row["status"]] = by_status.get(row["status"], 0) + row["n"]
    newest = job_facts().filter(user_id=user_id).order_by("-created_at")[:recent]  # batch parents too
    return DashboardJobs(by_status=by_status, recent=list(newest))


@dataclass(frozen=True)
class ServiceCounts:
    known: int  # services the registry has announced health for
    available: int  # of which healthy at their last check


def service_counts() -> ServiceCounts:
    found = ServiceState.objects.using(DB).aggregate(
        known=Count("id"), available=Count("id", filter=Q(status="healthy"))
    )
    return ServiceCounts(known=found["known"], available=found["available"])


def service_labels() -> dict[int, str]:
    """service id -> slug, for the services the registry has announced; others are labelled by id."""
    return dict(ServiceState.objects.using(DB).values_list("service_id", "slug"))


# --- analytics ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    start: date  # first day, inclusive (UTC)
    end: date  # last day, inclusive (UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


@dataclass
class _Tally:
    """Counts by status plus the duration and queue sums of one (day, service), one service, or everything."""

    counts: list[int] = field(default_factory=lambda: [0] * len(JOB_STATUSES))  # in JOB_STATUSES order
    durations: int = 0  # completed jobs with a run time
    duration_sum: float = 0.0
    duration_max: float | None = None
    queued: int = 0  # started jobs with a queue time
    queue_sum: float = 0.0

    def add(
        self, counts: Sequence[int], d_n: int, d_sum: float | None, d_max: float | None, q_n: int, q_sum: float | None
    ) -> None:
        self.counts = [mine + n for mine, n in zip(self.counts, counts, strict=True)]
        if d_n:
            self.durations += d_n
            self.duration_sum += d_sum or 0.0
            self.duration_max = max(self.duration_max or 0.0, d_max or 0.0)
        self.queued += q_n
        self.queue_sum += q_sum or 0.0

    def merge(self, other: _Tally) -> None:
        self.add(other.counts, other.durations, other.duration_sum, other.duration_max, other.queued, other.queue_sum)

    @property
    def by_status(self) -> dict[str, int]:
        return dict(zip(JOB_STATUSES, self.counts, strict=True))

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def success_rate(self) -> float | None:
        return success_rate(self.by_status["completed"], self.by_status["failed"])

    def duration_body(self) -> dict[str, Any]:
        return {
            "completed": self.durations,
            "avg_seconds": _seconds(self.duration_sum / self.durations) if self.durations else None,
            "max_seconds": _seconds(self.duration_max),
        }


def _percentiles(window: Window, count: int, shares: tuple[float, ...]) -> list[float | None]:
    """Nearest-rank percentiles of the completed jobs' duration_seconds in the window: per share, one walk of the
    monitoring_job_durations index (duration order, window filtered from the index) to the wanted rank.

    SQLite's planner prefers the window's range on the daily index and then sorts every row (6x slower at 100k
    jobs), so it is told which index to walk; PostgreSQL picks it by itself.
    """
    if count == 0:
        return [None for _ in shares]
    connection = connections[DB]
    sql = (
        f"SELECT duration_seconds FROM {connection.ops.quote_name(JobFact._meta.db_table)}%s "  # noqa: S608
        # the literal status (not a parameter) lets the planner prove the partial index applies
        "WHERE status = 'completed' AND service_id IS NOT NULL AND duration_seconds IS NOT NULL "
        "AND created_day >= %%s AND created_day <= %%s "
        "ORDER BY duration_seconds LIMIT 1 OFFSET %%s"
    )
    hinted = sql % (" INDEXED BY monitoring_job_durations" if connection.vendor == "sqlite" else "")
    found = []
    with connection.cursor() as cursor:
        for share in shares:
            rank = max(1, min(count, math.ceil(share * count)))
            params: list[str | int] = [window.start.isoformat(), window.end.isoformat(), rank - 1]
            try:
                cursor.execute(hinted, params)
            except OperationalError:  # SQLite without the index (dropped by hand): let its planner choose
                cursor.execute(sql % "", params)
            row = cursor.fetchone()
            found.append(_seconds(row[0]) if row else None)
    return found


DayRow = tuple[Any, ...]  # DAY_ROW_FIELDS


def job_day_groups(*, days: Sequence[date]) -> list[DayRow]:
    """The grouped pass over JobFact for the given submission days, one row per (day, service), in that order;
    covered by the monitoring_job_daily index. The periodic summarising stores its rows (JobDaySummary)."""
    if not days:
        return []
    done = Q(status="completed")
    times = {
        "durations": Count("duration_seconds", filter=done),
        "duration_sum": Sum("duration_seconds", filter=done),
        "duration_max": Max("duration_seconds", filter=done),
        "queue_times": Count("queue_seconds"),
        "queue_sum": Sum("queue_seconds"),
    }
    grouped = (
        job_runs()
        .filter(created_day__in=days)
        .order_by()
        .values_list("created_day", "service_id")
        .annotate(  # appended to each tuple in this order: DAY_ROW_FIELDS
            **{f"n_{status}": Count("id", filter=Q(status=status)) for status in JOB_STATUSES},
            **{f"t_{name}": times[name] for name in SUMMARY_TIMES},
        )
        .order_by("created_day", "service_id")
    )
    return list(grouped)


def job_days_unsummarised() -> list[date]:
    """Days whose JobDaySummary rows are missing or older than their jobs, oldest first."""
    stale = JobDay.objects.using(DB).filter(Q(summarised__isnull=True) | ~Q(summarised=F("version")))
    return list(stale.order_by("day").values_list("day", flat=True))


def _day_rows(window: Window) -> list[DayRow]:
    """The window's (day, service) rows: stored summaries for the days still summarised, the grouped pass over
    JobFact for the rest (today, and any day a job of which changed since the last summarising)."""
    marks = JobDay.objects.using(DB).filter(day__gte=window.start, day__lte=window.end)
    current = {day for day, version, summarised in marks.values_list("day", "version", "summarised")
               if summarised == version}  # fmt: skip
    stored = [
        row
        for row in JobDaySummary.objects.using(DB)
        .filter(day__gte=window.start, day__lte=window.end)
        .values_list(*DAY_ROW_FIELDS)
        if row[0] in current
    ]
    every_day = (window.start + timedelta(days=n) for n in range(window.days))
    live = job_day_groups(days=[day for day in every_day if day not in current])
    return sorted(stored + live, key=lambda row: (row[0], row[1]))


def analytics_report(*, window: Window) -> dict[str, Any]:
    """Jobs per service per day (by submission day), per-service totals and success rates, durations of the
    completed jobs, queue times, and failure categories, for jobs submitted inside the window.

    Every count and sum comes from one row per (day, service): stored summaries where they are current, JobFact's
    grouped pass for the other days (see _day_rows); the failure categories and the two duration percentiles are
    three more indexed queries.
    """
    in_window = job_runs().filter(created_day__gte=window.start, created_day__lte=window.end).order_by()
    labels = service_labels()
    daily: list[dict[str, Any]] = []
    per_service: dict[int, _Tally] = defaultdict(_Tally)
    overall = _Tally()
    for day, service_id, *counts, d_n, d_sum, d_max, q_n, q_sum in _day_rows(window):
        daily.append(
            {
                "date": day.isoformat(),
                "service_id": service_id,
                "service": labels.get(service_id, str(service_id)),
                "total": sum(counts),
                **dict(zip(JOB_STATUSES, counts, strict=True)),
            }
        )
        per_service[service_id].add(counts, d_n, d_sum, d_max, q_n, q_sum)
    for tally in per_service.values():
        overall.merge(tally)
    p50, p95 = _percentiles(window, overall.durations, (0.50, 0.95))
    failures = (
        in_window.filter(status="failed")
        .values("failure_category")
        .annotate(n=Count("id"))
        .order_by("-n", "failure_category")
    )
    return {
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat(), "days": window.days},
        "totals": {"jobs": overall.total, "by_status": overall.by_status, "success_rate": overall.success_rate},
        "jobs_per_service_per_day": daily,
        "services": [
            {
                "service_id": service_id,
                "service": labels.get(service_id, str(service_id)),
                "total": tally.total,
                "by_status": tally.by_status,
                "success_rate": tally.success_rate,
                "duration": tally.duration_body(),
            }
            for service_id, tally in sorted(per_service.items())
        ],
        "durations": {
            **overall.duration_body(),
            "p50_seconds": p50,
            "p95_seconds": p95,
        },
        "queue": {
            "started": overall.queued,
            "avg_seconds": _seconds(overall.queue_sum / overall.queued) if overall.queued else None,
        },
        "failure_categories": [
            {"category": row["failure_category"] or "uncategorised", "count": row["n"]} for row in failures
        ],
    }


# --- what the alert rules ask ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceFailures:
    service_id: int
    finished: int  # completed + failed in the window
    failed: int

    @property
    def rate(self) -> float:
        return self.failed / self.finished if self.finished else 0.0


def failures_by_service(*, since: datetime, until: datetime | None = None) -> list[ServiceFailures]:
    """Per service, the jobs that completed or failed since `since` (by when they finished)."""
    until = until or timezone.now()
    rows = (
        job_runs()
        .filter(completed_at__gte=since, completed_at__lte=until, status__in=("completed", "failed"))
        .order_by()
        .values("service_id")
        .annotate(finished=Count("id"), failed=Count("id", filter=Q(status="failed")))
    )
    return [ServiceFailures(r["service_id"], r["finished"], r["failed"]) for r in rows]


def window_of(*, days: int, end: date | None = None) -> Window:
    end = end or timezone.now().date()
    return Window(start=end - timedelta(days=days - 1), end=end)
