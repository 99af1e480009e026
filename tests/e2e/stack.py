"""A whole deployment as real processes, for end-to-end tests and benchmarks of the jobs context.

`Stack` starts, in a temporary directory of its own:
- the platform as `make run` does (Procfile): the monolith web server (uvicorn, config.serve), a Celery worker on
  queue `celery` with beat, the events relay and the events consumers, all on one set of databases (embedded
  SQLite files, or fresh PostgreSQL databases on the server DATABASE_URL_* point at when PLATFORM_PROFILE=postgres)
  and on the Redis at settings.REDIS_URL (events under a stream prefix of this stack's own);
- the reference imputation node as its own deployable (DEPLOYABLE=node, NODE_FAULTS_ENABLED=1; uvicorn serving
  apps.node.asgi, which adds the mid-upload reset fault) with its own Celery worker on queue `node`, its own
  database and demo panels built by `manage.py node_demo_panels`.

The platform does not serve the node under /node/ (NODE_EMBEDDED=0) and its worker does not take the `node` queue:
the node is a remote service to it, met over HTTP only. Each process runs in a session of its own, so a test can
SIGKILL one (with its pool children) and start it again. Nothing here knows the jobs context's internals: tests
drive the platform over its HTTP API (`Api`) and the node over its protocols and fault switchboard.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ADMIN = ("e2e-admin", "admin@e2e.example.org", "Adm1n-e2e-Passphrase")
CONTEXT_ALIASES = ("users", "registry", "jobs", "files", "notifications", "monitoring", "legacy")
# short timings so a job moves within seconds (config/settings/base.py, "jobs" section)
FAST_JOBS = {
    "JOBS_DISPATCH_SECONDS": "0.5",
    "JOBS_POLL_QUEUED_SECONDS": "1",
    "JOBS_POLL_RUNNING_SECONDS": "1",
    "JOBS_POLL_JITTER": "0.1",
    "JOBS_LEASE_SECONDS": "10",
    "JOBS_REQUEUE_SECONDS": "2",
    "JOBS_BACKOFF_MAX_SECONDS": "5",
    "JOBS_CANCEL_TIMEOUT_SECONDS": "120",
}
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str, every: float = 0.25) -> T:
    """Call `check` until it returns something truthy and return that; AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
            if result:
                return result
            last = result
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s (last seen: {last!r:.1500})")
        time.sleep(every)


@dataclass
class Process:
    """One long-running command of the stack, in its own session (so a signal reaches its children too)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"\n===== start {time.strftime('%H:%M:%S')}: {' '.join(self.argv)}\n".encode())
            self.popen = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.popen is not None:
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signum)

    def kill(self) -> None:
        """SIGKILL to the process and every child it started (a crashed machine, as the process sees it)."""
        if self.popen is None:
            return
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self, *, timeout: float = 20) -> None:
        if not self.running or self.popen is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.signal(signal.SIGKILL)  # children that outlived their parent

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def manage(*argv: str, env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(argv)} failed: {done.stdout[-2000:]}{done.stderr[-3000:]}")
    return done.stdout


class Api:
    """The platform's HTTP API as one signed-in user sees it (JWT from /api/auth/login/, renewed when it lapses)."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url, self.username, self.password = base_url, username, password
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self.user: dict[str, Any] = {}
        self.login()

    def login(self) -> None:
        answer = self.http.post("/api/auth/login/", json={"username": self.username, "password": self.password})
        answer.raise_for_status()
        body = answer.json()
        self.user = body["user"]
        self.http.headers["Authorization"] = f"Bearer {body['access']}"

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        answer = self.http.request(method, path, **kwargs)
        if answer.status_code == 401:  # the access token lapsed (15 min): sign in again, once
            self.login()
            answer = self.http.request(method, path, **kwargs)
        return answer

    def call(self, method: str, path: str, *, expect: int | tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        answer = self.request(method, path, **kwargs)
        wanted = (expect,) if isinstance(expect, int) else expect
        if answer.status_code not in wanted:
            raise AssertionError(f"{method} {path}: HTTP {answer.status_code}, wanted {wanted}: {answer.text[:1500]}")
        return answer.json() if answer.content and "json" in answer.headers.get("content-type", "") else answer

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.call("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.call("PATCH", path, **kwargs)

    def all_pages(self, path: str) -> list[dict[str, Any]]:
        """Every item of a paginated list (the kernel's {count, next, results} pages)."""
        items: list[dict[str, Any]] = []
        url: str | None = path
        while url:
            page = self.get(url)
            items += page["results"]
            url = page.get("next")
            if url:
                url = urlunsplit(("", "", urlsplit(url).path, urlsplit(url).query, ""))
        return items

    def close(self) -> None:
        self.http.close()


@dataclass
class NodeUserToken:
    username: str
    token: str


@dataclass
class Stack:
    """The platform and a reference node as real processes; `start()` builds everything, `stop()` ends it."""

    root: Path
    node_env_extra: dict[str, str] = field(default_factory=dict)
    platform_env_extra: dict[str, str] = field(default_factory=dict)
    node_worker: bool = True
    demo_args: tuple[str, ...] = ("--panel-samples", "150", "--study-samples", "100", "--length", "400000")
    worker_concurrency: int = 2
    web_url: str = ""
    node_url: str = ""
    processes: dict[str, Process] = field(default_factory=dict)
    platform_env: dict[str, str] = field(default_factory=dict)
    node_env: dict[str, str] = field(default_factory=dict)
    postgres: PostgresDatabases | None = None
    stamp: str = ""  # names this stack's Redis keys and PostgreSQL databases

    # --- life cycle ------------------------------------------------------------------------------------------

    def start(self) -> Stack:
        from django.conf import settings

        self.root.mkdir(parents=True, exist_ok=True)
        stamp = self.stamp = secrets.token_hex(4)
        web_port, node_port = free_port(), free_port()
        self.web_url, self.node_url = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{node_port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL_", "PLATFORM_PROFILE"))}
        base |= {"DJANGO_SETTINGS_MODULE": "config.settings.test", "REDIS_URL": settings.REDIS_URL, "ACCESS_LOG": "0"}
        base.pop("DEPLOYABLE", None)
        profile = "embedded"
        databases: dict[str, str] = {}
        if os.environ.get("PLATFORM_PROFILE") in ("postgres", "production") and os.environ.get("DATABASE_URL_USERS"):
            self.postgres = PostgresDatabases.create(os.environ["DATABASE_URL_USERS"], prefix=f"e2e_{stamp}")
            profile, databases = "postgres", self.postgres.urls
        self.platform_env = {
            **base,
            "TEST_VAR_DIR": str(self.root / "platform"),
            "PLATFORM_PROFILE": profile,
            **databases,
            "NODE_EMBEDDED": "0",
            "EVENTS_STREAM_PREFIX": f"e2e-{stamp}.",
            "GATEWAY_REDIS_PREFIX": f"e2e-{stamp}-gw:",
            "TEST_CHANNEL_LAYER": "redis",  # pushes from the consumers process reach the web server's sockets
            "CHANNELS_PREFIX": f"e2e-{stamp}-ws",
            "GATEWAY_ROUTES_FILE": str(self._routes_file()),
            "MONITORING_EVALUATE_SECONDS": "3600",
            **FAST_JOBS,
            **self.platform_env_extra,
        }
        self.node_env = {
            **base,
            "TEST_VAR_DIR": str(self.root / "node"),
            "PLATFORM_PROFILE": "embedded",
            "DEPLOYABLE": "node",
            "NODE_FAULTS_ENABLED": "1",
            "NODE_BEAGLE_THREADS": "1",
            "JWT_VERIFYING_KEY": settings.SIMPLE_JWT["VERIFYING_KEY"],  # every deployable but users needs one
            "EVENTS_STREAM_PREFIX": f"e2e-{stamp}-node.",
            **self.node_env_extra,
        }
        # the two systems are prepared side by side: migrations, the first admin, demo panels
        preparing = [
            _spawn(["manage.py", "migrate_all", "--verbosity", "0"], self.platform_env, self.root / "migrate.log"),
            _spawn(
                ["-c", _NODE_PREPARE.format(args=list(self.demo_args))], self.node_env, self.root / "node-prepare.log"
            ),
        ]
        for child, log in preparing:
            if child.wait(timeout=900):
                raise RuntimeError(f"preparing failed: {log.read_text()[-3000:]}")
        admin = {"ADMIN_USERNAME": ADMIN[0], "ADMIN_EMAIL": ADMIN[1], "ADMIN_PASSWORD": ADMIN[2]}
        manage("users_create_admin", env={**self.platform_env, **admin})
        self._define(web_port=web_port, node_port=node_port, stamp=stamp)
        for name, process in self.processes.items():
            if name != "node-worker" or self.node_worker:
                process.start()
        wait_for(lambda: httpx.get(f"{self.web_url}/healthz").status_code == 200, timeout=60, what="platform /healthz")
        wait_for(lambda: httpx.get(f"{self.node_url}/healthz").status_code == 200, timeout=60, what="node /healthz")
        self.worker_ready("worker")
        if self.node_worker:
            self.worker_ready("node-worker")
        return self

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            process.stop()
        if self.postgres is not None:
            self.postgres.drop()
        if self.stamp:  # this stack's event streams and gateway counters, on a Redis that may outlive the test
            import redis

            client = redis.Redis.from_url(self.platform_env["REDIS_URL"])
            keys = list(client.scan_iter(match=f"e2e-{self.stamp}*"))
            if keys:
                client.delete(*keys)

    def _define(self, *, web_port: int, node_port: int, stamp: str) -> None:
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        python, celery = sys.executable, str(BIN / "celery")
        platform, node = self.platform_env, self.node_env
        beat_schedule = str(self.root / "platform" / "celerybeat-schedule")
        platform_worker = [
            celery,
            "-A",
            "config",
            "worker",
            "-Q",
            "celery",
            "--beat",
            "-l",
            "info",
            "-n",
            f"platform-{stamp}@%h",
        ]
        node_worker = [
            celery,
            "-A",
            "config",
            "worker",
            "-Q",
            "node",
            "-l",
            "info",
            "-n",
            f"node-{stamp}@%h",
            "--concurrency=2",
        ]
        node_web = [str(BIN / "uvicorn"), "apps.node.asgi:application", "--lifespan", "off", "--no-access-log"]
        specs = {
            "web": ([python, "-m", "config.serve", "--host", "127.0.0.1", "--port", str(web_port)], platform),
            "worker": (
                [*platform_worker, f"--concurrency={self.worker_concurrency}", "--schedule", beat_schedule],
                platform,
            ),
            "relay": ([python, "manage.py", "events_relay"], platform),
            "consumers": ([python, "manage.py", "events_consume"], platform),
            "node-web": ([*node_web, "--host", "127.0.0.1", "--port", str(node_port)], node),
            "node-worker": (node_worker, node),
        }
        for name, (argv, env) in specs.items():
            self.processes[name] = Process(name=name, argv=argv, env=env, log=logs / f"{name}.log")

    def _routes_file(self) -> Path:
        """The product's route table with rate limits high enough for a test that polls and a benchmark's bursts."""
        text = (ROOT / "config" / "routes.toml").read_text()
        table = tomllib.loads(text)
        assert "rate_limits" in table, "config/routes.toml has no [rate_limits] section any more"
        text = re.sub(r"(?m)^per_ip = \d+", "per_ip = 1000000", text)
        text = re.sub(r"(?m)^per_user = \d+", "per_user = 1000000", text)
        path = self.root / "routes.toml"
        path.write_text(text)
        return path

    # --- processes -------------------------------------------------------------------------------------------

    def worker_ready(self, name: str, *, timeout: float = 90) -> None:
        """Wait until the Celery worker `name` logged its `ready.` line (since its last start)."""
        process = self.processes[name]

        def ready() -> bool:
            text = process.log.read_text(errors="replace")
            return " ready." in text[text.rfind("===== start") :]

        wait_for(ready, timeout=timeout, what=f"{name} ready ({process.tail(10)})")

    def restart(self, name: str, *, kill: bool = False) -> None:
        process = self.processes[name]
        if kill:
            process.kill()
        else:
            process.stop()
        process.start()
        if name in ("worker", "node-worker"):
            self.worker_ready(name)
        elif name == "web":
            wait_for(lambda: httpx.get(f"{self.web_url}/healthz").status_code == 200, timeout=60, what="web back")

    def logs(self, lines: int = 60) -> str:
        return "\n\n".join(f"--- {name} ---\n{process.tail(lines)}" for name, process in self.processes.items())

    # --- people and services --------------------------------------------------------------------------------

    def admin(self) -> Api:
        return Api(self.web_url, ADMIN[0], ADMIN[2])

    def user_create(self, admin: Api, username: str, *, role: str = "researcher") -> Api:
        password = f"Pw-{secrets.token_urlsafe(12)}"
        admin.post(
            "/api/users/",
            json={"username": username, "email": f"{username}@e2e.example.org", "password": password, "role": role},
        )
        return Api(self.web_url, username, password)

    def node_token(self, username: str, *, days: int | None = None) -> NodeUserToken:
        argv = ["node_token", username, *(["--days", str(days)] if days is not None else [])]
        return NodeUserToken(username=username, token=manage(*argv, env=self.node_env).strip().splitlines()[-1])

    def services_register(self, admin: Api) -> dict[str, dict[str, Any]]:
        """The node's two fronts as services through the registry API, with their panels synced: {api_type: body}."""
        registered = {}
        for api_type, slug, url in (
            ("cloudgene", f"node-cloudgene-{secrets.token_hex(2)}", self.node_url),
            ("wes", f"node-wes-{secrets.token_hex(2)}", f"{self.node_url}/ga4gh/wes/v1"),
        ):
            service = admin.post(
                "/api/services/",
                json={
                    "name": f"E2E node ({api_type})",
                    "slug": slug,
                    "api_type": api_type,
                    "base_url": url,
                    "requires_auth": True,
                    "supported_builds": ["hg19", "hg38"],
                    "is_active": True,
                    **({"app_id": "imputationserver2"} if api_type == "cloudgene" else {}),
                },
            )
            admin.post(f"/api/services/{service['slug']}/sync/")
            panels = admin.all_pages(f"/api/reference-panels/?service={service['id']}")
            registered[api_type] = {**service, "panels": panels}
        return registered

    def demo_input(self, build: str = "hg19", chromosome: str = "20") -> Path:
        return self.root / "node" / "node" / "panels" / f"demo-{build}" / f"input.chr{chromosome}.vcf.gz"

    # --- the node, as its operator and as a client --------------------------------------------------------

    def faults(self, **switches: Any) -> dict[str, Any]:
        answer = httpx.post(f"{self.node_url}/api/v2/node/faults", json=switches, timeout=30)
        answer.raise_for_status()
        return dict(answer.json())

    def node_jobs(self, token: str) -> list[dict[str, Any]]:
        """The node's own list of this token's jobs (Cloudgene `GET /api/v2/jobs`, every front's jobs)."""
        answer = httpx.get(f"{self.node_url}/api/v2/jobs", headers={"X-Auth-Token": token}, timeout=30)
        answer.raise_for_status()
        return list(answer.json()["data"])

    @contextmanager
    def faults_on(self, **switches: Any) -> Iterator[None]:
        self.faults(**switches)
        try:
            yield
        finally:
            self.faults(clear=True)


_NODE_PREPARE = """
import django, subprocess, sys
from django.core.management import call_command
django.setup()
call_command("migrate_all", verbosity=0)
call_command("node_demo_panels", *{args})
"""


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], Path]:
    with log.open("wb") as out:
        child = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return child, log


@dataclass
class PostgresDatabases:
    """Fresh PostgreSQL databases, one per platform alias, on the server of a DATABASE_URL (dropped afterwards)."""

    server_url: str
    names: dict[str, str]

    @classmethod
    def create(cls, any_url: str, *, prefix: str) -> PostgresDatabases:
        import psycopg

        parts = urlsplit(any_url)
        server = urlunsplit((parts.scheme.replace("postgresql", "postgres"), parts.netloc, "/postgres", "", ""))
        names = {alias: f"{prefix}_{alias}" for alias in CONTEXT_ALIASES}
        with psycopg.connect(_libpq(server), autocommit=True) as connection:
            for name in names.values():
                connection.execute(f'CREATE DATABASE "{name}"')
        return cls(server_url=server, names=names)

    @property
    def urls(self) -> dict[str, str]:
        parts = urlsplit(self.server_url)
        return {
            f"DATABASE_URL_{alias.upper()}": urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))
            for alias, name in self.names.items()
        }

    def outage(self, seconds: float) -> int:
        """What a PostgreSQL restart looks like to the platform: every connection to its databases is dropped and
        none is accepted for `seconds`. Returns how many connections were cut."""
        import psycopg

        with psycopg.connect(_libpq(self.server_url), autocommit=True) as connection:
            for name in self.names.values():
                connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            try:
                cut = connection.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = ANY(%s)",
                    [list(self.names.values())],
                ).fetchone()
                time.sleep(seconds)
            finally:
                for name in self.names.values():
                    connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        return int(cut[0]) if cut else 0

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(_libpq(self.server_url), autocommit=True) as connection:
            for name in self.names.values():
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _libpq(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def input_upload(api: Api, path: Path) -> int:
    """One-shot upload through the files API, then the pre-flight verdict (the worker validates it)."""
    with path.open("rb") as handle:
        body = api.post("/api/files/", files={"file": (path.name, handle, "application/gzip")}, expect=201)
    file_id = int(body["id"])
    ready = wait_for(
        lambda: (f := api.get(f"/api/files/{file_id}/"))["status"] in ("ready", "rejected") and f,
        timeout=90,
        what="the uploaded input's pre-flight verdict",
    )
    assert ready["status"] == "ready", ready["validation"]
    assert ready["validation"]["samples"] == 100
    return file_id


def jobs_of(node_jobs: list[dict[str, Any]], platform_job_id: str) -> list[dict[str, Any]]:
    """The node's jobs that carry this platform job id as their name (how the platform correlates them)."""
    return [job for job in node_jobs if job.get("name") == platform_job_id]


def json_lines(path: Path, *, logger: str) -> Iterator[dict[str, Any]]:
    """The JSON log records of one logger in a process log (other lines are skipped)."""
    for line in path.read_text(errors="replace").splitlines():
        start = line.find("{")
        if start < 0 or logger not in line:
            continue
        with suppress(ValueError):
            record = json.loads(line[start:])
            if isinstance(record, dict) and record.get("logger", record.get("name")) == logger:
                yield record
