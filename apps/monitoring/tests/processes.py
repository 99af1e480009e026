"""Real processes the health tests start and stop: a Celery worker on a throwaway Redis server (tests/notifications/
stack.py's `redis_start`), and a context run as its own deployable, each on a free loopback port of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import redis

from tests.notifications.stack import redis_start
from tests.servers import ROOT, Server, deployable_env, server_start

__all__ = ["deployable_serve", "redis_answers", "redis_start", "worker_start"]


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
