"""Real processes the health tests start and stop: a Celery worker on a throwaway Redis server (tests/notifications/
stack.py's `redis_start`), a context run as its own deployable, and a PostgreSQL server of its own, each on a free
loopback port of its own; and database aliases made on the fly to point at such servers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from django.db import connections

from tests.notifications.stack import redis_start
from tests.servers import ROOT, Server, deployable_env, free_port, server_start

__all__ = [
    "PostgresProcess",
    "deployable_serve",
    "postgres_init",
    "redis_answers",
    "redis_start",
    "scratch_alias",
    "worker_start",
]


def worker_start(broker_url: str, var_dir: Path, *, queues: str = "celery", name: str = "probe") -> Server:
    """A real Celery worker of this project (solo pool) consuming `queues` on `broker_url`; returns once it answers
    a ping."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PLATFORM_PROFILE": "embedded",
        "TEST_VAR_DIR": str(var_dir),
        "REDIS_URL": broker_url,
    }
    argv = [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-Q", queues, "-n", f"{name}@%h"]
    argv += ["--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "warning"]
    log = (var_dir / f"worker-{name}.log").open("wb")
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    from celery import Celery

    probe = Celery(broker=broker_url, set_as_current=False)  # never the app `current_app` names
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if probe.control.ping(timeout=0.5):
            probe.close()
            return Server(broker_url, process)
    probe.close()
    process.kill()
    raise RuntimeError(f"the Celery worker did not answer: {(var_dir / f'worker-{name}.log').read_text()[-2000:]}")


def deployable_serve(context: str, var_dir: Path, redis_url: str) -> Server:
    """A context as its own deployable (`python -m config.serve`, DEPLOYABLE=<context>): /healthz needs no database,
    so it is not migrated."""
    return server_start(deployable_env(context, var_dir, REDIS_URL=redis_url), log=var_dir / f"{context}.log")


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


class PostgresProcess:
    """A throwaway PostgreSQL server of its own (initdb into a temporary directory, trust auth on a free loopback
    port), to stop and start under a connected alias. Run as the `postgres` account when the tests run as root, as
    the server refuses root."""

    def __init__(self, bindir: Path, data: Path, port: int) -> None:
        self.bindir, self.data, self.port = bindir, data, port

    def _run(self, tool: str, *args: str, ok: tuple[int, ...] = (0,)) -> int:
        argv = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode not in ok:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {done.stdout[-1000:]}{done.stderr[-1000:]}")
        return done.returncode

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", ok=(0, 3)) == 0  # 3: no server running

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        if self.running():  # a test that failed between its stop and start leaves it stopped
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def database(self) -> dict[str, Any]:
        """Django DATABASES settings for its `postgres` database."""
        return {"ENGINE": "django.db.backends.postgresql", "NAME": "postgres", "USER": "postgres", "PASSWORD": "",
                "HOST": "127.0.0.1", "PORT": str(self.port), "OPTIONS": {"connect_timeout": 3}}  # fmt: skip


def postgres_init(bindir: Path, base: Path) -> PostgresProcess:
    """initdb a new cluster under `base` (which the server's account can reach; not yet started)."""
    data = base / "data"
    data.mkdir(mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(data, "postgres")
    server = PostgresProcess(bindir, data, free_port())
    server._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
    return server


@contextmanager
def scratch_alias(name: str, config: dict[str, Any]) -> Iterator[str]:
    """A database alias on `config`, as a connection made on the fly and not among the configured aliases: Django's
    test case refuses queries to configured aliases a test did not declare, and would make a test database for one."""
    connections.settings[name] = config
    wrapper = connections.create_connection(name)
    del connections.settings[name]
    connections[name] = wrapper
    try:
        yield name
    finally:
        wrapper.close()
        del connections[name]
