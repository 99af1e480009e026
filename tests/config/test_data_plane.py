"""The data plane (config/data_plane.py) against Django's own path, through two real servers of the monolith on one
database and one Redis: one with the plane, one with DATA_PLANE=0. The same tus PATCH, sent to each, must get the
same answer, header by header, whether it is stored, refused by the view or refused at the edge; a middleware added
later that the plane skipped would show up here."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.servers import Server, deployable_env, manage, server_start

pytestmark = pytest.mark.redis  # the gateway counts requests in this session's Redis

PASSWORD = "data-plane-juniper-42"
LENGTH = 2 * 1024**2  # larger than what uvicorn parses with the headers, so the body is read from the socket
ORIGIN = "http://localhost:5173"
VARYING = {"date", "upload-expires", "x-ratelimit-remaining", "x-ratelimit-reset"}  # by the clock or the count
TUS = "application/offset+octet-stream"


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


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Iterator[Pair]:
    var_dir = tmp_path_factory.mktemp("data-plane")
    env = deployable_env("monolith", var_dir, METRICS_TOKEN="", CORS_ALLOWED_ORIGINS=ORIGIN)
    manage("migrate_all", "--verbosity", "0", env=env)
    admin = {"ADMIN_USERNAME": "plane", "ADMIN_EMAIL": "plane@example.org", "ADMIN_PASSWORD": PASSWORD}
    manage("users_create_admin", env={**env, **admin})
    plane = server_start({**env, "DATA_PLANE": "1"}, log=var_dir / "plane.log")
    django = server_start({**env, "DATA_PLANE": "0"}, log=var_dir / "django.log")
    try:
        login = json.dumps({"username": "plane", "password": PASSWORD}).encode()
        answer = _request(plane, "POST", "/api/auth/login/", {"Content-Type": "application/json"}, login)
        assert answer.status == 200, answer.body
        yield Pair(plane, django, json.loads(answer.body)["access"])
    finally:
        plane.stop()
        django.stop()


def _request(server: Server, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Answer:
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def _upload(server: Server, token: str) -> str:
    metadata = f"filename {base64.b64encode(b'plane.vcf.gz').decode()}"
    headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0", "Upload-Length": str(LENGTH)}
    answer = _request(server, "POST", "/api/files/uploads/", {**headers, "Upload-Metadata": metadata})
    assert answer.status == 201, answer.body
    return answer.headers["location"]


def _served(server: Server) -> dict[str, float]:
    """The server's fip_data_plane_requests_total by what served the requests."""
    text = _request(server, "GET", "/metrics", {}).body.decode()
    return {
        m[0]: float(m[1]) for m in re.findall(r'^fip_data_plane_requests_total{served_by="(\w+)"} (\S+)$', text, re.M)
    }


def _both(pair: Pair, case: str, headers: dict[str, str], body: bytes, *, location: str | None = None) -> Answer:
    """The PATCH sent to each server (to a fresh upload of its own unless `location` is given); both answers must be
    the same. Returns the plane's."""
    answers = []
    for server in (pair.plane, pair.django):
        path = location or _upload(server, pair.token)
        sent = {"Tus-Resumable": "1.0.0", "Content-Type": TUS, "Upload-Offset": "0", "X-Request-ID": f"plane-{case}"}
        answers.append(_request(server, "PATCH", path, {**sent, **headers}, body))
    plane, django = answers
    assert plane.comparable() == django.comparable()
    assert set(plane.headers) == set(django.headers)
    return plane


def test_a_stored_chunk_gets_the_same_answer_from_the_plane_as_from_django(pair: Pair) -> None:
    # given each server's count of what served streamed requests
    before = _served(pair.plane)
    # when the same chunk is sent to both
    answer = _both(pair, "stored", {"Authorization": f"Bearer {pair.token}"}, os.urandom(LENGTH // 2))
    # then both stored it, with the same headers: tus's, the request id, security, rate limit, DRF's
    assert answer.status == 204 and answer.headers["upload-offset"] == str(LENGTH // 2)
    assert answer.headers["x-request-id"] == "plane-stored"
    assert answer.headers["x-content-type-options"] == "nosniff" and answer.headers["x-frame-options"] == "DENY"
    assert {"tus-resumable", "upload-expires", "x-ratelimit-limit", "allow", "vary"} <= set(answer.headers)
    # and the plane served it, where the other server has no plane at all
    assert _served(pair.plane)["plane"] == before["plane"] + 1
    assert _served(pair.django)["plane"] == 0


@pytest.mark.parametrize(
    ("case", "headers", "status", "code"),
    [
        ("offset", {"Upload-Offset": "512"}, 409, "CONFLICT"),
        ("content-type", {"Content-Type": "application/octet-stream"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("tus-version", {"Tus-Resumable": "0.2.2"}, 412, "PRECONDITION_FAILED"),
        ("past-the-end", {}, 413, "PAYLOAD_TOO_LARGE"),
    ],
)
def test_a_chunk_the_view_refuses_gets_the_same_envelope_from_both(
    pair: Pair, case: str, headers: dict[str, str], status: int, code: str
) -> None:
    # given a chunk that is wrong in one way (past-the-end: longer than the whole upload)
    body = os.urandom(LENGTH + 1 if case == "past-the-end" else LENGTH // 2)
    before = _served(pair.plane)
    # when it is sent to both
    answer = _both(pair, case, {"Authorization": f"Bearer {pair.token}", **headers}, body)
    # then both refuse it with the same status, headers and envelope, and the plane served the refusal itself
    assert answer.status == status and json.loads(answer.body)["error"]["code"] == code
    assert json.loads(answer.body)["request_id"] == f"plane-{case}"
    assert _served(pair.plane)["plane"] == before["plane"] + 1


def test_an_upload_that_is_not_there_answers_404_from_both(pair: Pair) -> None:
    answer = _both(
        pair,
        "missing",
        {"Authorization": f"Bearer {pair.token}"},
        os.urandom(LENGTH // 2),
        location="/api/files/uploads/987654/",
    )
    assert answer.status == 404 and json.loads(answer.body)["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("authorization", ["Bearer not-a-token", "", "Basic cGxhbmU6cGxhbmU="])
def test_a_chunk_the_edge_refuses_is_handed_to_django_and_answered_as_there(pair: Pair, authorization: str) -> None:
    # given the plane's count of requests it handed on
    before = _served(pair.plane)
    # when a chunk without a valid access token is sent to both
    headers = {"Authorization": authorization} if authorization else {}
    answer = _both(pair, "edge", headers, os.urandom(LENGTH // 2), location="/api/files/uploads/1/")
    # then both answer the gateway's 401, and the plane handed the request to Django's handler
    assert answer.status == 401 and answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert json.loads(answer.body)["error"]["code"] == "AUTHENTICATION_ERROR"
    assert _served(pair.plane)["django"] == before["django"] + 1


def test_a_chunk_from_a_browser_origin_gets_the_same_cors_headers_from_both(pair: Pair) -> None:
    headers = {"Authorization": f"Bearer {pair.token}", "Origin": ORIGIN}
    answer = _both(pair, "cors", headers, os.urandom(LENGTH // 2))
    assert answer.status == 204
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "X-Request-ID" in answer.headers["access-control-expose-headers"]
