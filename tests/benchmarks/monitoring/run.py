"""Monitoring benchmark: the dashboard, analytics, alert-rule and metrics selectors over 100k jobs.

One run, on a database of its own (a temporary SQLite file, or a throwaway PostgreSQL database created on the
server --postgres names and dropped afterwards):

  1. migrates the monitoring alias and seeds --jobs JobFact rows (default 100,000) the way the projection writes
     them: 12 services, 2,000 users (one heavy user with 5% of all jobs), a year of submissions, 70% completed,
     15% failed over 6 failure categories, 5% cancelled, the rest active, log-normal run and queue times;
  2. times each selector --repeat times (default 20) and prints the median and p95 in ms, with PASS/MISS against
     the goal (200 ms): the caller's dashboard (heavy and typical user), analytics over 30 and 365 days, the
     failure-rate rule, and a full scrape of the business metrics;
  3. baseline, in the same run and on the same rows: a plain full-table COUNT(*), the analytics before any day is
     summarised (then every day is summarised, as the beat task does, and 5 days are marked changed, so those
     are read from JobFact), and the same selectors with JobFact's secondary indexes dropped.

A measurement, not a test: exit status 0 whatever the figures, non-zero only when something failed.

    .venv/bin/python tests/benchmarks/monitoring/run.py                     # SQLite
    .venv/bin/python tests/benchmarks/monitoring/run.py --postgres postgres://user:pw@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

GOAL_MS = 200.0
CHANGED_DAYS = 5  # days whose jobs changed since the last summarising: read from JobFact
SERVICES = 12
USERS = 2_000
CATEGORIES = ("remote_error", "input_invalid", "timeout", "quota_exceeded", "auth_failed", "cancelled_remote")
ALIASES = ("users", "registry", "jobs", "files", "notifications", "monitoring", "legacy")


def configure(postgres: str | None, var_dir: Path) -> str | None:
    """Environment for Django before it starts: every alias on one database of the run's own (only monitoring is
    migrated). Returns the PostgreSQL database created, or None for SQLite."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ["VAR_DIR"] = str(var_dir)
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["MONITORING_DB_METRICS"] = "0"  # time the queries, not the instrumentation
    if not postgres:
        os.environ["PLATFORM_PROFILE"] = "embedded"
        return None
    import psycopg

    name = f"fip_bench_monitoring_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(postgres)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    os.environ["PLATFORM_PROFILE"] = "postgres"
    os.environ["REDIS_URL"] = "redis://127.0.0.1:1/0"  # never used: no event, no cache
    for alias in ALIASES:
        os.environ[f"DATABASE_URL_{alias.upper()}"] = url
    return name


def drop_database(postgres: str, name: str) -> None:
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(count: int, now: datetime) -> tuple[int, int]:
    """Bulk-insert `count` jobs; returns (heavy user id, a typical user id)."""
    from apps.monitoring.models import DB, JobDay, JobFact, ServiceState

    rng = random.Random(20261128)
    heavy, typical = 1, 1_000
    ServiceState.objects.using(DB).bulk_create(
        ServiceState(
            service_id=s,
            slug=f"service-{s}",
            name=f"Service {s}",
            status="healthy" if s % 5 else "unhealthy",
            event_at=now,
            down_since=None if s % 5 else now - timedelta(hours=1),
        )
        for s in range(1, SERVICES + 1)
    )
    batch: list[JobFact] = []
    for i in range(count):
        user = heavy if i % 20 == 0 else rng.randint(2, USERS)
        created = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
        roll = rng.random()
        status = (
            "completed" if roll < 0.70 else "failed" if roll < 0.85 else "cancelled" if roll < 0.90
            else rng.choice(("pending", "queued", "running"))
        )  # fmt: skip
        queued = rng.lognormvariate(4, 1.2) if status != "pending" else None
        started = created + timedelta(seconds=queued) if queued is not None else None
        finished = status in ("completed", "failed", "cancelled") and started is not None
        ran = rng.lognormvariate(7.5, 0.8) if finished else None
        completed = started + timedelta(seconds=ran) if started is not None and ran is not None else None
        batch.append(
            JobFact(
                job_id=uuid.uuid4(),
                user_id=user,
                service_id=rng.randint(1, SERVICES),
                name=f"bench job {i}",
                status=status,
                stage="done" if finished else "queued",
                progress=100 if status == "completed" else 0,
                failure_category=rng.choice(CATEGORIES) if status == "failed" else "",
                created_at=created,
                created_day=created.date(),
                started_at=started,
                completed_at=completed,
                queue_seconds=queued,
                duration_seconds=ran if completed else None,
                event_at=completed or started or created,
            )
        )
        if len(batch) == 5_000:
            JobFact.objects.using(DB).bulk_create(batch)
            batch = []
    if batch:
        JobFact.objects.using(DB).bulk_create(batch)
    days = JobFact.objects.using(DB).order_by().values_list("created_day", flat=True).distinct()
    JobDay.objects.using(DB).bulk_create(JobDay(day=day) for day in days)  # as the projection leaves them
    return heavy, typical


def summarise(now: datetime, changed: int) -> tuple[float, int]:
    """Summarise every day (the beat task's first run; returns its seconds and days), then let the projection
    change `changed` days, today among them, so those are read from JobFact as between two runs."""
    from apps.monitoring.services.projections import job_day_touch
    from apps.monitoring.services.summaries import job_days_summarise

    started = time.perf_counter()
    days = job_days_summarise()
    took = time.perf_counter() - started
    rng = random.Random(7)
    for back in [0, *rng.sample(range(1, 365), changed - 1)]:
        job_day_touch(day=(now - timedelta(days=back)).date())
    return took, days


def analyze() -> None:
    """Fresh planner statistics and (PostgreSQL) visibility map, as autovacuum keeps them on a live database: without
    the map, PostgreSQL cannot answer from an index alone."""
    from django.db import connections

    connection = connections["monitoring"]
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def measure(run: Callable[[], Any], repeat: int) -> tuple[float, float, float]:
    """(median, p95, fastest) in ms; the fastest run is the cost with the least interference from the machine."""
    run()  # warm: caches, plans
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)], ordered[0]


def cases(heavy: int, typical: int, now: datetime) -> dict[str, Callable[[], Any]]:
    from prometheus_client import CollectorRegistry, generate_latest

    from apps.monitoring.metrics import MonitoringCollector
    from apps.monitoring.selectors.jobs import (
        analytics_report,
        dashboard_jobs,
        failures_by_service,
        service_counts,
        window_of,
    )

    registry = CollectorRegistry()
    registry.register(MonitoringCollector())

    def dashboard(user_id: int) -> Callable[[], Any]:
        return lambda: (dashboard_jobs(user_id=user_id), service_counts())

    return {
        "dashboard, heavy user (5% of jobs)": dashboard(heavy),
        "dashboard, typical user": dashboard(typical),
        "analytics, 30 days": lambda: analytics_report(window=window_of(days=30, end=now.date())),
        "analytics, 365 days (every job)": lambda: analytics_report(window=window_of(days=366, end=now.date())),
        "failure-rate rule, last 60 min": lambda: failures_by_service(since=now - timedelta(minutes=60), until=now),
        "metrics scrape (business metrics)": lambda: generate_latest(registry),
    }


def indexes_drop() -> list[str]:
    from django.db import connections

    from apps.monitoring.models import JobFact

    connection = connections["monitoring"]
    names = [index.name for index in JobFact._meta.indexes]
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f'DROP INDEX "{name}"')
    return names


def report(title: str, figures: dict[str, tuple[float, float, float]], *, goal: bool) -> None:
    print(f"\n{title}")
    for name, (median, p95, fastest) in figures.items():
        verdict = ("PASS" if p95 < GOAL_MS else "MISS") if goal else ""
        print(f"  {name:<38} median {median:7.1f} ms   p95 {p95:7.1f} ms   min {fastest:7.1f} ms   {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres", help="a PostgreSQL URL whose role may CREATE DATABASE (default: SQLite)")
    parser.add_argument("--dir", default=None, help="where the temporary SQLite file goes")
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="fip-bench-monitoring-", dir=args.dir))
    created = configure(args.postgres, var_dir)
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections
        from django.utils import timezone

        call_command("migrate", "monitoring", database="monitoring", verbosity=0)
        vendor = connections["monitoring"].vendor
        now = timezone.now().astimezone(UTC)
        started = time.perf_counter()
        heavy, typical = seed(args.jobs, now)
        analyze()
        load = ", ".join(f"{figure:.2f}" for figure in os.getloadavg())
        print(f"{vendor}: seeded {args.jobs:,} jobs in {time.perf_counter() - started:.1f} s; {args.repeat} runs each")
        print(f"machine: {os.cpu_count()} CPUs, load average {load} (other work on the machine inflates the p95)")

        from apps.monitoring.models import JobFact

        baseline = {
            "COUNT(*) over every job": measure(lambda: JobFact.objects.using("monitoring").count(), args.repeat)
        }
        report("baseline: a full-table count", baseline, goal=False)
        analytics = {name: run for name, run in cases(heavy, typical, now).items() if name.startswith("analytics")}
        report("baseline: the analytics before any day is summarised (every day grouped from JobFact)", {
            name: measure(run, args.repeat) for name, run in analytics.items()
        }, goal=False)  # fmt: skip
        took, days = summarise(now, CHANGED_DAYS)
        print(f"\nsummarising {days} days (the beat task's first run): {took * 1000:.0f} ms; then {CHANGED_DAYS} days"
              " change (today among them): the analytics group those from JobFact")  # fmt: skip
        report(f"with JobFact's indexes and the day summaries (goal: p95 < {GOAL_MS:.0f} ms)", {
            name: measure(run, args.repeat) for name, run in cases(heavy, typical, now).items()
        }, goal=True)  # fmt: skip
        dropped = indexes_drop()
        analyze()
        report(f"baseline: the same without the {len(dropped)} secondary indexes", {
            name: measure(run, args.repeat) for name, run in cases(heavy, typical, now).items()
        }, goal=False)  # fmt: skip
        connections.close_all()
    finally:
        if created and args.postgres:
            from django.db import connections

            connections.close_all()
            drop_database(args.postgres, created)
        shutil.rmtree(var_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
