"""Fixtures for the gateway: route tables written per test, real upstream processes on loopback, access tokens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from gateway.routes import route_table_reset

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_URLCONF = "tests.gateway.upstream_urls"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Upstream:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def upstream_start(port: int | None = None, deployable: str = "jobs", urlconf: str = UPSTREAM_URLCONF) -> Upstream:
    """A real daphne process serving the test upstream (or a real context's URLconf) as a deployable."""
    port = port or free_port()
    env = {
        **os.environ,
        "DEPLOYABLE": deployable,
        "DEPLOYABLE_URLCONF": urlconf,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return Upstream(url=url, process=process)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"upstream on {url} did not start")


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    server = upstream_start()
    yield server
    server.stop()


@pytest.fixture
def routes_file(tmp_path: Path, settings: Any) -> Iterator[Callable[[str], Path]]:
    """Write a route table and make it the one in force; returns the writer so tests can edit it."""
    path = tmp_path / "routes.toml"

    def write(text: str) -> Path:
        path.write_text(text)
        return path

    settings.GATEWAY_ROUTES_FILE = str(path)
    settings.GATEWAY_APP_URLCONFS = {"jobs": UPSTREAM_URLCONF}
    route_table_reset()
    yield write
    route_table_reset()


def access_token(user_id: int | str = 7, *, lifetime: timedelta = timedelta(minutes=5), **extra: Any) -> str:
    """An RS256 access token shaped like simplejwt's, signed with this deployment's private key."""
    now = timezone.now()
    claims = {"token_type": "access", "user_id": str(user_id), "iat": now, "exp": now + lifetime, "jti": "t", **extra}
    return jwt.encode(claims, django_settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="RS256")
