"""The data plane (config/data_plane.py) against Django's own path, through two real servers of the monolith on one
database and one Redis: one with the plane, one with DATA_PLANE=0. The same tus PATCH, sent to each, must get the
same answer, header by header, whether it is stored, refused by the view or refused at the edge, and must leave its
connection fit for the next request; a middleware added later that the plane skipped would show up here."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.servers import ROOT, Server, deployable_env, manage, server_start

pytestmark = pytest.mark.redis  # the gateway counts requests in this session's Redis

PASSWORD = "data-plane-juniper-42"
LENGTH = 2 * 1024**2  # larger than what uvicorn parses with the headers, so the body is read from the socket
ORIGIN = "http://localhost:5173"
VARYING = {"date", "upload-expires", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after"}  # clock, count
TUS = "application/offset+octet-stream"
Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def comparable(self) -> tuple[int, dict[str, str], bytes]:
        return self.status, {k: "(varies)" if k in VARYING else v for k, v in self.headers.items()}, self.body


@dataclass(frozen=True)
class Pair:
    plane: Server
    django: Server
    token: str
    redis_prefix: str


def _pair(var_dir: Path, **env_overrides: str) -> Iterator[Pair]:
    """Both servers on one embedded database and this test session's Redis (under a prefix of their own), with an
    account signed in."""
    prefix = f"plane-{uuid.uuid4().hex[:8]}:"
    env = deployable_env(
        "monolith", var_dir, METRICS_TOKEN="", CORS_ALLOWED_ORIGINS=ORIGIN, GATEWAY_REDIS_PREFIX=prefix, **env_overrides
    )
    manage("migrate_all", "--verbosity", "0", env=env)
    admin = {"ADMIN_USERNAME": "plane", "ADMIN_EMAIL": "plane@example.org", "ADMIN_PASSWORD": PASSWORD}
    manage("users_create_admin", env={**env, **admin})
    plane = server_start({**env, "DATA_PLANE": "1"}, log=var_dir / "plane.log")
    django = server_start({**env, "DATA_PLANE": "0"}, log=var_dir / "django.log")
    try:
        login = json.dumps({"username": "plane", "password": PASSWORD}).encode()
        connection = _connect(plane)
        answer = _send(connection, "POST", "/api/auth/login/", [("Content-Type", "application/json")], login)
        connection.close()
        assert answer.status == 200, answer.body
        yield Pair(plane, django, json.loads(answer.body)["access"], prefix)
    finally:
        plane.stop()
        django.stop()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Iterator[Pair]:
    yield from _pair(tmp_path_factory.mktemp("data-plane"))


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Iterator[Pair]:
    """A pair whose route table allows each user four requests a minute."""
    var_dir = tmp_path_factory.mktemp("data-plane-limited")
    routes = var_dir / "routes.toml"
    text = (ROOT / "config" / "routes.toml").read_text()
    routes.write_text(re.sub(r"(?m)^per_user = \d+", "per_user = 4", text))
    yield from _pair(var_dir, GATEWAY_ROUTES_FILE=str(routes))


def _connect(server: Server) -> http.client.HTTPConnection:
    host, port = server.url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=60)


def _send(connection: http.client.HTTPConnection, method: str, path: str, headers: Headers, body: bytes) -> Answer:
    """One request on a kept-alive connection; headers may repeat."""
    connection.putrequest(method, path)
    for name, value in [*headers, ("Content-Length", str(len(body)))]:
        connection.putheader(name, value)
    connection.endheaders(body)
    response = connection.getresponse()
    return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())


def _upload(server: Server, token: str) -> str:
    metadata = f"filename {base64.b64encode(b'plane.vcf.gz').decode()}"
    headers = [("Authorization", f"Bearer {token}"), ("Tus-Resumable", "1.0.0"), ("Upload-Length", str(LENGTH))]
    connection = _connect(server)
    answer = _send(connection, "POST", "/api/files/uploads/", [*headers, ("Upload-Metadata", metadata)], b"")
    connection.close()
    assert answer.status == 201, answer.body
    return answer.headers["location"]


def _served(server: Server) -> dict[str, float]:
    """The server's fip_data_plane_requests_total by what served the requests."""
    connection = _connect(server)
    text = _send(connection, "GET", "/metrics", [], b"").body.decode()
    connection.close()
    found = re.findall(r'^fip_data_plane_requests_total{served_by="(\w+)"} (\S+)$', text, re.MULTILINE)
    return {served_by: float(count) for served_by, count in found}


def _both(
    pair: Pair,
    case: str,
    headers: Headers,
    body: bytes,
    *,
    location: str | None = None,
    method: str = "PATCH",
    head: int = 200,
) -> Answer:
    """The PATCH sent to each server (to a fresh upload of its own unless `location` is given), then a HEAD on the same
    connection, which must answer `head`; both answers must be the same on both servers. Returns the plane's answer
    to the PATCH."""
    answers: list[Answer] = []
    for server in (pair.plane, pair.django):
        path = location or _upload(server, pair.token)
        defaults = [("Tus-Resumable", "1.0.0"), ("Upload-Offset", "0"), ("X-Request-ID", f"plane-{case}")]
        sent = [(name, value) for name, value in [*defaults, ("Content-Type", TUS)] if name not in dict(headers)]
        connection = _connect(server)
        try:
            answers.append(_send(connection, method, path, [*sent, *headers], body))
            kept = connection.sock
            # the connection serves the next request: the body was read, or thrown away, not left to be parsed
            auth = [(name, value) for name, value in headers if name == "Authorization"]
            asked = [("Tus-Resumable", "1.0.0"), ("X-Request-ID", f"plane-{case}-head"), *auth]
            answers.append(_send(connection, "HEAD", path, asked, b""))
            assert answers[-1].status == head, answers[-1]
            assert kept is not None and connection.sock is kept  # kept alive, not closed and opened again
        finally:
            connection.close()
    plane_patch, plane_head, django_patch, django_head = answers
    assert plane_patch.comparable() == django_patch.comparable()
    assert plane_head.comparable()[:2] == django_head.comparable()[:2]
    return plane_patch


def _bearer(pair: Pair) -> Headers:
    return [("Authorization", f"Bearer {pair.token}")]


def test_a_stored_chunk_gets_the_same_answer_from_the_plane_as_from_django(pair: Pair) -> None:
    # given each server's count of what served streamed requests
    before = _served(pair.plane)
    # when the same chunk is sent to both
    answer = _both(pair, "stored", _bearer(pair), os.urandom(LENGTH // 2))
    # then both stored it, with the same headers: tus's, the request id, security, rate limit, DRF's
    assert answer.status == 204 and answer.headers["upload-offset"] == str(LENGTH // 2)
    assert answer.headers["x-request-id"] == "plane-stored"
    assert answer.headers["x-content-type-options"] == "nosniff" and answer.headers["x-frame-options"] == "DENY"
    assert {"tus-resumable", "upload-expires", "x-ratelimit-limit", "allow", "vary"} <= set(answer.headers)
    # and the plane served it, where the other server has no plane at all
    assert _served(pair.plane)["plane"] == before["plane"] + 1
    assert _served(pair.django)["plane"] == 0


def test_a_chunk_posted_with_the_method_override_is_stored_alike(pair: Pair) -> None:
    headers = [*_bearer(pair), ("X-HTTP-Method-Override", "PATCH")]
    answer = _both(pair, "override", headers, os.urandom(LENGTH // 2), method="POST")
    assert answer.status == 204 and answer.headers["upload-offset"] == str(LENGTH // 2)


@pytest.mark.parametrize(
    ("case", "headers", "status", "code"),
    [
        ("offset", [("Upload-Offset", "512")], 409, "CONFLICT"),
        ("content-type", [("Content-Type", "application/octet-stream")], 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("tus-version", [("Tus-Resumable", "0.2.2")], 412, "PRECONDITION_FAILED"),
        ("past-the-end", [], 413, "PAYLOAD_TOO_LARGE"),
    ],
)
def test_a_chunk_the_view_refuses_gets_the_same_envelope_from_both(
    pair: Pair, case: str, headers: Headers, status: int, code: str
) -> None:
    # given a chunk that is wrong in one way (past-the-end: longer than the whole upload)
    body = os.urandom(LENGTH + 1 if case == "past-the-end" else LENGTH // 2)
    before = _served(pair.plane)
    # when it is sent to both
    answer = _both(pair, case, [*_bearer(pair), *headers], body)
    # then both refuse it with the same status, headers and envelope, and the plane served the refusal itself
    assert answer.status == status and json.loads(answer.body)["error"]["code"] == code
    assert json.loads(answer.body)["request_id"] == f"plane-{case}"
    assert _served(pair.plane)["plane"] == before["plane"] + 1


def test_an_upload_that_is_not_there_answers_404_from_both(pair: Pair) -> None:
    missing = "/api/files/uploads/987654/"
    answer = _both(pair, "missing", _bearer(pair), os.urandom(LENGTH // 2), location=missing, head=404)
    assert answer.status == 404 and json.loads(answer.body)["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "authorization",
    [["Bearer not-a-token"], [], ["Basic cGxhbmU6cGxhbmU="], ["Bearer junk", "Bearer {token}"]],
    ids=["invalid", "missing", "basic", "repeated"],
)
def test_a_chunk_the_edge_refuses_gets_the_gateways_401_from_both(pair: Pair, authorization: list[str]) -> None:
    # given a chunk without one valid access token (repeated: a bad header, then a good one)
    headers = [("Authorization", value.format(token=pair.token)) for value in authorization]
    before = _served(pair.plane)
    # when it is sent to both
    answer = _both(pair, "edge", headers, os.urandom(LENGTH // 2), location="/api/files/uploads/1/", head=401)
    # then both answer the gateway's 401, which the plane gave itself
    assert answer.status == 401 and answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert json.loads(answer.body)["error"]["code"] == "AUTHENTICATION_ERROR"
    assert _served(pair.plane)["plane"] == before["plane"] + 1


def test_a_chunk_from_a_browser_origin_gets_the_same_cors_headers_from_both(pair: Pair) -> None:
    answer = _both(pair, "cors", [*_bearer(pair), ("Origin", ORIGIN)], os.urandom(LENGTH // 2))
    assert answer.status == 204
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "X-Request-ID" in answer.headers["access-control-expose-headers"]


def test_a_chunk_over_the_rate_limit_gets_the_same_429_from_both_and_is_counted_once(
    limited: Pair, redis_server: str
) -> None:
    # given a user allowed four requests a minute, far enough from the minute's end
    if (left := 60 - time.time() % 60) < 10:
        time.sleep(left + 0.1)
    location = _upload(limited.plane, limited.token)  # 1
    chunk = os.urandom(LENGTH // 4)
    for offset, server in enumerate((limited.plane, limited.django)):  # 2 and 3
        connection = _connect(server)
        headers = [*_bearer(limited), ("Tus-Resumable", "1.0.0"), ("Content-Type", TUS)]
        stored = _send(connection, "PATCH", location, [*headers, ("Upload-Offset", str(offset * len(chunk)))], chunk)
        connection.close()
        assert stored.status == 204, stored.body
    connection = _connect(limited.plane)
    assert _send(connection, "HEAD", location, [*_bearer(limited), ("Tus-Resumable", "1.0.0")], b"").status == 200  # 4
    connection.close()
    # when the same chunk is sent to each server past the limit (5 and 6: the PATCH and the HEAD on the plane, 7 and
    # 8 on Django)
    headers = [*_bearer(limited), ("Upload-Offset", str(2 * len(chunk)))]
    answer = _both(limited, "limited", headers, chunk, location=location, head=429)
    # then both refuse it alike, and Redis counted each of the eight requests once
    assert answer.status == 429 and json.loads(answer.body)["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert answer.headers["x-ratelimit-remaining"] == "0"
    store = redis.Redis.from_url(redis_server)
    counts = [int(store.get(key) or 0) for key in store.scan_iter(match=f"{limited.redis_prefix}rl:user:*")]
    store.close()
    assert counts == [8]
