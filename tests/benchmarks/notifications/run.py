"""Notifications fan-out benchmark: N WebSocket clients on loopback, each receiving its own notification.

One run on the real processes of tests/notifications/stack.py (a private Redis on TCP, the web server
`python -m config.serve` as a notifications deployable with channels-redis, and `manage.py events_consume`):

  1. connects --clients sockets (default 1000), one user each, authenticated with the `bearer.<token>`
     subprotocol, --connect-concurrency at a time; each is in its user's group once its handshake completes;
  2. fan-out: publishes ONE `notification.send` event naming every user; the consumer process makes N
     notifications in one transaction and pushes them after the commit. Each client times the arrival of its
     own notification from the moment the event entered the stream;
  3. per user: publishes N `job.status.updated` events, one per user's job; each client times its `job.status`
     push and checks that the job is its own;
  4. prints delivery latency (p50, p99, max) and throughput for both phases, and the RSS (current and peak) of
     the web server holding the sockets and of the consumer process.

A measurement, not a test: exit status 0 whatever the figures, non-zero when a client got another user's
message or nothing at all within --timeout. The clients share one asyncio process, so their own scheduling is
part of the latency measured (an upper bound of what the server takes).

    .venv/bin/python tests/benchmarks/notifications/run.py [--clients 1000] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from tests.notifications.stack import ORIGIN, Stack, stack_start  # noqa: E402


@dataclass
class Arrivals:
    """How many clients got a message of each type; `all_in[type]` is set once every client has."""

    expected: int
    counts: dict[str, int] = field(default_factory=dict)
    all_in: dict[str, asyncio.Event] = field(default_factory=dict)

    def event(self, kind: str) -> asyncio.Event:
        return self.all_in.setdefault(kind, asyncio.Event())

    def count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.counts[kind] == self.expected:
            self.event(kind).set()


@dataclass
class Client:
    user_id: int
    ws: ClientConnection
    arrived: dict[str, float] = field(default_factory=dict)  # message type -> monotonic time of arrival
    foreign: list[Any] = field(default_factory=list)  # anything that was not this user's

    async def listen(self, expected_job: str, arrivals: Arrivals) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            kind, data = message["type"], message["data"]
            if kind == "ping":
                continue
            if kind == "job.status" and data["job_id"] != expected_job:
                self.foreign.append(message)
            if kind not in self.arrived:
                self.arrived[kind] = time.monotonic()
                arrivals.count(kind)


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = {key: int(value) / 1024 for key, value in re.findall(r"(VmRSS|VmHWM):\s+(\d+) kB", status)}
    return found.get("VmRSS", float("nan")), found.get("VmHWM", float("nan"))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def report(name: str, latencies: list[float], started: float, expected: int) -> None:
    if not latencies:
        print(f"{name}: no client received anything")
        return
    last = max(latencies)
    print(
        f"{name}: {len(latencies)}/{expected} delivered; latency p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, max {last * 1000:.0f} ms, "
        f"mean {statistics.fmean(latencies) * 1000:.0f} ms; {len(latencies) / last:.0f} deliveries/s"
    )


async def all_arrived(arrivals: Arrivals, kind: str, limit: float) -> None:
    with contextlib.suppress(TimeoutError):  # what did not arrive is reported as missing
        await asyncio.wait_for(arrivals.event(kind).wait(), limit)


async def run(stack: Stack, count: int, concurrency: int, limit: float) -> int:
    gate = asyncio.Semaphore(concurrency)

    async def open_one(user_id: int) -> Client:
        async with gate:
            ws = await connect(
                stack.ws_url(),
                origin=ORIGIN,  # type: ignore[arg-type]
                subprotocols=[f"bearer.{stack.token(user_id)}"],  # type: ignore[list-item]
                proxy=None,
                open_timeout=60,
                ping_interval=None,
                compression=None,
            )
            return Client(user_id, ws)

    before = rss_mb(stack.server.process.pid)
    started = time.monotonic()
    clients = await asyncio.gather(*(open_one(user_id) for user_id in range(1, count + 1)))
    connected = time.monotonic() - started
    arrivals = Arrivals(expected=count)
    listeners = [asyncio.create_task(c.listen(f"bench-job-{c.user_id}", arrivals)) for c in clients]
    holding = rss_mb(stack.server.process.pid)
    print(f"connected {count} sockets in {connected:.1f} s")

    published = time.monotonic()
    stack.publish(
        "notification.send",
        {
            "user_ids": [c.user_id for c in clients],
            "type": "system",
            "title": "Benchmark",
            "message": "One event, one notification per user.",
            "data": {},
            "priority": "normal",
        },
    )
    await all_arrived(arrivals, "notification", limit)
    fan_out = [c.arrived["notification"] - published for c in clients if "notification" in c.arrived]

    published = time.monotonic()
    for c in clients:
        job = f"bench-job-{c.user_id}"
        stack.publish(
            "job.status.updated",
            {"job_id": job, "service_id": 1, "user_id": c.user_id, "status": "running", "progress": 10},
            aggregate_id=job,
        )
    await all_arrived(arrivals, "job.status", limit)
    per_user = [c.arrived["job.status"] - published for c in clients if "job.status" in c.arrived]
    await asyncio.sleep(0.5)  # anything misrouted would be here by now

    after = rss_mb(stack.server.process.pid)
    consumer = rss_mb(stack.consumer.pid)
    for listener in listeners:
        listener.cancel()
    await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)

    print()
    report("fan-out (1 notification.send event -> N notifications)", fan_out, published, count)
    report("per user (N job.status.updated events -> N pushes)", per_user, published, count)
    print(
        f"web server RSS: {before[0]:.0f} MB idle, {holding[0]:.0f} MB holding {count} sockets, "
        f"{after[0]:.0f} MB after delivery (peak {after[1]:.0f} MB; "
        f"{(holding[0] - before[0]) * 1024 / count:.0f} KB per socket)"
    )
    print(f"consumer process RSS: {consumer[0]:.0f} MB (peak {consumer[1]:.0f} MB)")

    misrouted = sum(len(c.foreign) for c in clients)
    missing = 2 * count - len(fan_out) - len(per_user)
    if misrouted or missing:
        print(f"FAILED: {misrouted} messages reached the wrong user, {missing} deliveries missing")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000, help="WebSocket clients, one user each (default 1000)")
    parser.add_argument("--connect-concurrency", type=int, default=100, help="handshakes in flight (default 100)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each phase (default 60)")
    parser.add_argument("--dir", type=Path, default=None, help="where to work (default: the system temp dir)")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * args.clients + 1024))  # the clients here, the server's inherit it
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    work = Path(tempfile.mkdtemp(prefix="notifications-bench-", dir=args.dir))
    print(f"starting Redis, the web server and the event consumer in {work} ...", flush=True)
    stack = stack_start(work)
    status = 1
    try:
        status = asyncio.run(run(stack, args.clients, args.connect_concurrency, args.timeout))
    finally:
        stack.stop()
        if status == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"the processes' logs are kept in {work}")
    return status


if __name__ == "__main__":
    sys.exit(main())
