"""A tus upload through the real server (the Procfile's web command, monolith, embedded profile): what a client
whose connection went silent mid-chunk meets when it resumes on a new connection."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import socket
import time
from collections.abc import Iterator

import pytest

from apps.files.services import uploads
from tests.servers import Server, deployable_env, manage, server_start

pytestmark = pytest.mark.redis  # the server's gateway counts requests in this session's Redis

PASSWORD = "served-tus-walnut-17"
CHUNK = 4 * 1024**2


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Iterator[tuple[Server, str]]:
    """The monolith on its own embedded databases, with an account signed in: the server and an access token."""
    var_dir = tmp_path_factory.mktemp("tus-served")
    env = deployable_env("monolith", var_dir)
    manage("migrate_all", "--verbosity", "0", env=env)
    admin = {"ADMIN_USERNAME": "tus", "ADMIN_EMAIL": "tus@example.org", "ADMIN_PASSWORD": PASSWORD}
    manage("users_create_admin", env={**env, **admin})
    server = server_start(env, log=var_dir / "server.log")
    try:
        login = json.dumps({"username": "tus", "password": PASSWORD}).encode()
        status, _, body = _request(server, "POST", "/api/auth/login/", {"Content-Type": "application/json"}, login)
        assert status == 200, body
        yield server, json.loads(body)["access"]
    finally:
        server.stop()


def _request(
    server: Server, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_a_chunk_resent_after_its_connection_went_silent_is_taken_in_seconds_not_after_the_idle_timeout(
    served: tuple[Server, str],
) -> None:
    server, token = served
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    data = os.urandom(CHUNK)
    metadata = f"filename {base64.b64encode(b'silent.vcf.gz').decode()}"
    status, headers, body = _request(
        server, "POST", "/api/files/uploads/", {**auth, "Upload-Length": str(CHUNK), "Upload-Metadata": metadata}
    )
    assert status == 201, body
    location, file_id = headers["location"], json.loads(body)["id"]
    host, port = server.url.removeprefix("http://").split(":")
    patch = {**auth, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    # given a PATCH whose client sent a quarter of the chunk, then nothing more, its connection still open
    with socket.create_connection((host, int(port)), timeout=60) as silent:
        head = "".join(f"{name}: {value}\r\n" for name, value in {**patch, "Content-Length": str(CHUNK)}.items())
        silent.sendall(f"PATCH {location} HTTP/1.1\r\nHost: {host}\r\n{head}\r\n".encode() + data[: CHUNK // 4])
        time.sleep(uploads.STALL_SECONDS + 0.5)  # the server has read it, and waited that long for more
        # when the client resumes on a new connection and sends the whole chunk again
        started = time.monotonic()
        status, headers, body = _request(server, "PATCH", location, {**patch, "Content-Length": str(CHUNK)}, data)
        taken_in = time.monotonic() - started
        # then the new one was taken as soon as the silent one had stalled, not after the 30 s idle timeout
        assert status == 204, body
        assert headers["upload-offset"] == str(CHUNK)
        assert taken_in < uploads.STALL_SECONDS + 5
        # and the silent one was stopped and answered (if anyone still listens), its connection closed after that
        silent.settimeout(10)
        answer = b"".join(iter(lambda: silent.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 400") and uploads.SUPERSEDED.encode() in answer, answer[:500]
    status, _, body = _request(server, "GET", f"/api/files/{file_id}/", auth)
    assert status == 200 and json.loads(body)["sha256"] == hashlib.sha256(data).hexdigest()
