"""Real server processes for tests: the Procfile's web command on a loopback port, with its own environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_argv(port: int) -> list[str]:
    """The Procfile's web command (config.serve, uvicorn) on a loopback port."""
    return [sys.executable, "-m", "config.serve", "--host", "127.0.0.1", "--port", str(port)]


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def server_start(env_overrides: dict[str, str], *, port: int | None = None, log: Path | None = None) -> Server:
    """A real process running the Procfile's web command with this session's environment plus overrides
    (an empty value removes a variable); returns once /healthz answers."""
    port = port or free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", **env_overrides}
    env = {key: value for key, value in env.items() if value}
    output = log.open("wb") if log else subprocess.DEVNULL
    process = subprocess.Popen(server_argv(port), cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return Server(url=url, process=process)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server on {url} did not start" + (f": {log.read_text()[-2000:]}" if log else ""))


def manage(*argv: str, env: dict[str, str]) -> str:
    """Run a manage.py command in a child process with `env`; its output, or the failure with that output."""
    done = subprocess.run(
        [sys.executable, "manage.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(argv)} failed: {done.stdout[-1000:]}{done.stderr[-2000:]}")
    return done.stdout


def deployable_env(context: str, var_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of one context run as its own deployable on an embedded database of its own in `var_dir`.

    Its Redis, internal service key and JWT key are this test session's, so events, internal calls and tokens
    cross over.
    """
    from django.conf import settings

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PLATFORM_PROFILE": "embedded",
        "TEST_VAR_DIR": str(var_dir),
        "DEPLOYABLE": context,
        "REDIS_URL": settings.REDIS_URL,
        "INTERNAL_SERVICE_KEY": settings.INTERNAL_SERVICE_KEY,
        "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"],  # one key pair for the whole test deployment;
        "JWT_VERIFYING_KEY": settings.SIMPLE_JWT["VERIFYING_KEY"],  # only the users deployable reads the private half
        "ACCESS_LOG": "0",
        **overrides,
    }


def deployable_start(context: str, var_dir: Path, **overrides: str) -> Server:
    """Migrate, then serve, one context as its own deployable (a real process on loopback)."""
    env = deployable_env(context, var_dir, **overrides)
    manage("migrate_all", "--verbosity", "0", env=env)
    return server_start(env, log=var_dir / "server.log")
