"""README command 1 end to end: `make run` on the embedded default, probed over real HTTP like an operator would.

It starts the whole stack (private Redis, uvicorn, Celery worker with beat, relay, consumers) in a fresh
var/ directory, waits for readiness, kills the worker to see /readyz turn 503 and heal, then stops it all
with SIGINT as Ctrl-C would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from config.settings.profiles import DATABASE_ALIASES

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if predicate():
                return time.monotonic() - started
        except (OSError, ValueError):
            pass
        time.sleep(0.25)
    raise AssertionError(f"{what} did not happen within {timeout:.0f}s")


@pytest.fixture
def running_product(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL_", "PLATFORM_PROFILE", "REDIS_URL"))}
    env.update(VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="config.settings.base")
    log = (tmp_path / "run.log").open("wb")
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:  # the test failed midway: take the whole stack down, nothing else
            stack = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
            for proc in stack:
                proc.kill()
            psutil.wait_procs(stack, timeout=10)
        log.close()


def _celery_worker(make: subprocess.Popen[bytes]) -> psutil.Process:
    """The Celery main process: the child of the supervisor that wraps `celery worker`."""
    for proc in psutil.Process(make.pid).children(recursive=True):
        cmdline = proc.cmdline()
        if "config.supervise" in cmdline and any("celery" in part for part in cmdline):
            return proc.children()[0]
    raise AssertionError("no supervised celery worker found")


def test_make_run_serves_probes_heals_a_killed_worker_and_stops_on_ctrl_c(
    running_product: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, make = running_product

    healthy_after = _wait_for(lambda: _get(f"{base}/healthz") == (200, {"status": "ok"}), 180, "/healthz 200")
    _wait_for(lambda: _get(f"{base}/readyz")[0] == 200, 60, "/readyz 200")
    status, body = _get(f"{base}/readyz")
    assert status == 200 and body["status"] == "ok"
    assert set(body["checks"]) == {f"db.{alias}" for alias in DATABASE_ALIASES} | {"redis", "worker"}
    assert all(check["ok"] for check in body["checks"].values())
    print(f"/healthz answered after {healthy_after:.1f}s")

    _celery_worker(make).kill()
    down_after = _wait_for(lambda: _get(f"{base}/readyz")[0] == 503, 30, "/readyz 503 after killing the worker")
    _wait_for(lambda: _get(f"{base}/readyz")[0] == 200, 60, "/readyz 200 again after the supervisor restarts it")
    print(f"/readyz turned 503 {down_after:.1f}s after the worker was killed, then recovered")

    stack = [psutil.Process(make.pid), *psutil.Process(make.pid).children(recursive=True)]
    os.killpg(make.pid, signal.SIGINT)
    _gone, alive = psutil.wait_procs(stack, timeout=30)
    assert [p.cmdline() for p in alive if p.is_running()] == []
