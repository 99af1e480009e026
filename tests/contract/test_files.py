"""API_CONTRACT.md "files context": every endpoint, the same requests against every target.

Targets: `app` (the in-process context behind the gateway middleware, tasks run eagerly) and `remote` (a real
gateway process proxying to a real files deployable, which asks a real users deployable for quotas and has its own
Celery worker). Genotypes are simulated per chromosome (apps.genomics.simulate). Bodies are compared by their
exact keys and meaningful values; every error is the contract's envelope.
"""

from __future__ import annotations

import base64
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from apps.genomics.simulate import vcf_simulate
from tests.contract.fixtures import FilesApi, RawReply, _remote_api
from tests.servers import Server

pytestmark = [pytest.mark.django_db(databases=["users", "files"]), pytest.mark.redis]

FILE_KEYS = {
    "id",
    "owner_id",
    "name",
    "kind",
    "status",
    "size",
    "offset",
    "sha256",
    "job_id",
    "validation",
    "result",
    "created_at",
    "updated_at",
    "completed_at",
    "expires_at",
}
PAGE_KEYS = {"count", "next", "previous", "results"}


@pytest.fixture(scope="module")
def genotypes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root: Path = tmp_path_factory.mktemp("contract-vcfs")
    made = {}
    for name, defects in (("good", ()), ("unsorted", ("unsorted",))):
        path = root / f"{name}.vcf.gz"
        vcf_simulate(path, samples=24, sites=2500, length=5_000_000, build="hg38", seed=3, defects=defects)
        made[name] = path.read_bytes()
    return made


def _error(reply: RawReply, status: int, code: str) -> dict[str, Any]:
    assert reply.status == status, reply.content
    body = reply.json()
    assert set(body) == {"error", "request_id"}
    assert body["error"]["code"] == code
    assert body["request_id"] == reply.headers["x-request-id"]
    return dict(body["error"])


def _metadata(name: str) -> str:
    return f"filename {base64.b64encode(name.encode()).decode()}"


def _create(api: FilesApi, token: str, length: int, name: str = "chr20.vcf.gz") -> RawReply:
    return api.send(
        "POST",
        "/api/files/uploads/",
        token=token,
        Upload_Length=str(length),
        Upload_Metadata=_metadata(name),
        Tus_Resumable="1.0.0",
    )


def _patch(api: FilesApi, token: str, location: str, offset: int, data: bytes) -> RawReply:
    return api.send(
        "PATCH",
        location,
        token=token,
        body=data,
        Upload_Offset=str(offset),
        Tus_Resumable="1.0.0",
        Content_Type="application/offset+octet-stream",
    )


def _upload(api: FilesApi, token: str, data: bytes, *, name: str = "chr20.vcf.gz", chunk: int = 10_000) -> int:
    created = _create(api, token, len(data), name)
    assert created.status == 201, created.content
    for offset in range(0, len(data), chunk):
        assert _patch(api, token, created.headers["location"], offset, data[offset : offset + chunk]).status == 204
    return int(created.json()["id"])


# --- resumable uploads -----------------------------------------------------------------------------------


def test_options_advertises_tus(files_api: FilesApi) -> None:
    _, token = files_api.user_new()

    reply = files_api.send("OPTIONS", "/api/files/uploads/", token=token)

    assert reply.status == 204
    assert (reply.headers["tus-version"], reply.headers["tus-extension"]) == (
        "1.0.0",
        "creation,expiration,termination",
    )
    assert int(reply.headers["tus-max-size"]) > 0


def test_an_upload_in_chunks_completes_validates_and_reports(files_api: FilesApi, genotypes: dict[str, bytes]) -> None:
    user_id, token = files_api.user_new()
    data = genotypes["good"]
    half = len(data) // 2

    created = _create(files_api, token, len(data))
    location = created.headers["location"]
    first = _patch(files_api, token, location, 0, data[:half])
    head = files_api.send("HEAD", location, token=token, Tus_Resumable="1.0.0")
    rest = _patch(files_api, token, location, half, data[half:])
    body = files_api.settled(created.json()["id"], token=token)
    validation = files_api.send("GET", f"/api/files/{body['id']}/validation/", token=token).json()

    assert (created.status, created.headers["tus-resumable"], location) == (
        201,
        "1.0.0",
        f"/api/files/uploads/{created.json()['id']}/",
    )
    assert (first.status, first.headers["upload-offset"]) == (204, str(half))
    assert (head.status, head.headers["upload-offset"], head.headers["upload-length"]) == (
        200,
        str(half),
        str(len(data)),
    )
    assert (rest.status, rest.headers["upload-offset"]) == (204, str(len(data)))
    assert set(body) == FILE_KEYS
    assert (body["owner_id"], body["name"], body["kind"], body["status"], body["size"], body["offset"]) == (
        user_id,
        "chr20.vcf.gz",
        "input",
        "ready",
        len(data),
        len(data),
    )
    assert len(body["sha256"]) == 64
    assert (validation["status"], validation["report"]["samples"], validation["report"]["problems"]) == (
        "ready",
        24,
        [],
    )
    assert validation["report"] == body["validation"]


def test_a_file_breaking_a_rule_is_rejected_with_its_problem(files_api: FilesApi, genotypes: dict[str, bytes]) -> None:
    _, token = files_api.user_new()

    body = files_api.settled(_upload(files_api, token, genotypes["unsorted"]), token=token)

    assert body["status"] == "rejected"
    assert [p["severity"] for p in body["validation"]["problems"] if p["severity"] == "error"]
    assert {p["code"] for p in body["validation"]["problems"]} & {"unsorted", "not_tabix_indexable", "malformed"}


def test_a_wrong_offset_is_409(files_api: FilesApi) -> None:
    _, token = files_api.user_new()
    location = _create(files_api, token, 100).headers["location"]

    error = _error(_patch(files_api, token, location, 10, b"x" * 10), 409, "CONFLICT")

    assert error["details"] == {"offset": 0}


def test_two_patches_at_one_offset_apply_exactly_one(files_api: FilesApi) -> None:
    """On a real server both run at once (threads); in-process they run one after the other."""
    _, token = files_api.user_new()
    location = _create(files_api, token, 4 * 1024 * 1024).headers["location"]
    bodies = [bytes([n]) * (2 * 1024 * 1024) for n in (1, 2)]

    if files_api.name == "remote":
        with ThreadPoolExecutor(max_workers=2) as pool:
            replies = list(pool.map(lambda body: _patch(files_api, token, location, 0, body), bodies))
    else:
        replies = [_patch(files_api, token, location, 0, body) for body in bodies]
    head = files_api.send("HEAD", location, token=token, Tus_Resumable="1.0.0")

    assert sorted(reply.status for reply in replies) == [204, 409]
    assert head.headers["upload-offset"] == str(2 * 1024 * 1024)


# --- PATCH bodies streamed to storage as they arrive (apps/files/api/asgi.py) ---------------------------------------
# A deployable streams every tus PATCH body; these talk to the files deployable on a raw socket, so a chunk can
# arrive slowly or be cut off half-way.


@pytest.fixture
def deployable_files(files_deployable: Server, files_gateway: Server) -> tuple[FilesApi, Server]:
    """The files API behind the gateway (accounts, creation, downloads) and the files deployable itself."""
    return FilesApi(_remote_api(files_gateway)), files_deployable


def _patch_head(server: Server, token: str, location: str, offset: int, length: int) -> tuple[socket.socket, bytes]:
    url = urlsplit(server.url)
    head = (
        f"PATCH {location} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {token}\r\n"
        f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    )
    return socket.create_connection((str(url.hostname), int(url.port or 80)), timeout=30), head.encode()


def _patch_raw(server: Server, token: str, location: str, offset: int, pieces: list[bytes], *, whole: bool) -> bytes:
    """A PATCH announcing all `pieces`, sent piece by piece with pauses; unless `whole`, the connection is cut after
    the first half of them. Returns what the server answered (b"" when cut)."""
    sock, head = _patch_head(server, token, location, offset, sum(len(piece) for piece in pieces))
    with sock:
        sock.sendall(head)
        for piece in pieces if whole else pieces[: len(pieces) // 2]:
            sock.sendall(piece)
            time.sleep(0.05)
        if not whole:
            return b""
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _stored(api: FilesApi, token: str, file_id: int) -> bytes:
    """The bytes of a completed upload, once it has been judged (random bytes are rejected, still downloadable)."""
    body = api.settled(file_id, token=token)
    assert (body["offset"], body["size"]) == (body["size"], body["size"])
    return api.send("GET", f"/api/files/{file_id}/download/", token=token).content


def test_a_chunk_arriving_slowly_in_pieces_is_stored_whole(deployable_files: tuple[FilesApi, Server]) -> None:
    api, deployable = deployable_files
    _, token = api.user_new()
    pieces = [bytes([n]) * 300_000 for n in range(1, 7)]
    data = b"".join(pieces)
    created = _create(api, token, len(data))

    answer = _patch_raw(deployable, token, created.headers["location"], 0, pieces, whole=True)

    status_line, _, _ = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 204 No Content"
    assert f"upload-offset: {len(data)}".encode() in answer.lower()
    assert _stored(api, token, created.json()["id"]) == data


def test_a_chunk_cut_off_half_way_keeps_nothing_and_frees_the_upload(
    deployable_files: tuple[FilesApi, Server],
) -> None:
    api, deployable = deployable_files
    _, token = api.user_new()
    pieces = [bytes([n]) * 200_000 for n in range(1, 9)]
    data = b"".join(pieces)
    created = _create(api, token, len(data))
    location = created.headers["location"]

    _patch_raw(deployable, token, location, 0, pieces, whole=False)
    head = api.send("HEAD", location, token=token, Tus_Resumable="1.0.0")
    deadline = time.monotonic() + 5  # the server notices the closed connection within moments, not at a timeout
    while (retried := _patch(api, token, location, 0, data)).status == 409 and time.monotonic() < deadline:
        time.sleep(0.1)

    assert head.headers["upload-offset"] == "0"
    assert (retried.status, retried.headers["upload-offset"]) == (204, str(len(data)))
    assert _stored(api, token, created.json()["id"]) == data


def test_a_chunk_at_a_wrong_offset_is_refused_before_its_body_is_sent(
    deployable_files: tuple[FilesApi, Server],
) -> None:
    api, deployable = deployable_files
    _, token = api.user_new()
    location = _create(api, token, 5_000_000).headers["location"]
    sock, head = _patch_head(deployable, token, location, 1000, 4_000_000)

    with sock:
        sock.sendall(head)  # and not one byte of the body
        sock.settimeout(10)
        answer = b""
        while b"request_id" not in answer and (chunk := sock.recv(65536)):  # the whole envelope, however split
            answer += chunk

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 409 Conflict"
    assert b'"details":{"offset":0}' in rest.replace(b" ", b"")


def test_a_request_without_tus_resumable_is_412(files_api: FilesApi) -> None:
    _, token = files_api.user_new()

    reply = files_api.send("POST", "/api/files/uploads/", token=token, Upload_Length="10")

    _error(reply, 412, "PRECONDITION_FAILED")
    assert reply.headers["tus-version"] == "1.0.0"


def test_a_file_over_the_quota_is_refused_before_storage(files_api: FilesApi) -> None:
    _, token = files_api.user_new(storage_bytes=1000)

    error = _error(_create(files_api, token, 1001), 413, "QUOTA_EXCEEDED")

    assert error["details"] == {"quota_bytes": 1000, "used_bytes": 0, "requested_bytes": 1001}
    assert files_api.send("GET", "/api/files/", token=token).json()["count"] == 0


def test_only_vcf_gz_is_accepted(files_api: FilesApi) -> None:
    _, token = files_api.user_new()

    error = _error(_create(files_api, token, 100, name="chr20.vcf"), 400, "VALIDATION_ERROR")

    assert error["message"].startswith("'chr20.vcf' is not a bgzip-compressed VCF")


def test_a_traversal_name_is_kept_as_a_plain_name(files_api: FilesApi) -> None:
    _, token = files_api.user_new()

    created = _create(files_api, token, 100, name="../../etc/passwd.vcf.gz")

    assert (created.status, created.json()["name"]) == (201, "passwd.vcf.gz")


def test_termination_removes_the_upload(files_api: FilesApi) -> None:
    _, token = files_api.user_new()
    location = _create(files_api, token, 100).headers["location"]

    deleted = files_api.send("DELETE", location, token=token, Tus_Resumable="1.0.0")
    head = files_api.send("HEAD", location, token=token, Tus_Resumable="1.0.0")

    assert (deleted.status, head.status) == (204, 404)


def test_a_one_shot_upload_answers_201_with_the_file(files_api: FilesApi, genotypes: dict[str, bytes]) -> None:
    _, token = files_api.user_new()

    reply = files_api.upload_form("/api/files/", token=token, name="chr20.vcf.gz", content=genotypes["good"])

    assert reply.status == 201, reply.content
    assert set(reply.json()) == FILE_KEYS
    assert files_api.settled(reply.json()["id"], token=token)["status"] == "ready"


# --- metadata, listing, deletion ----------------------------------------------------------------------------


def test_the_list_is_paginated_and_filtered(files_api: FilesApi) -> None:
    _, token = files_api.user_new()
    ids = [_create(files_api, token, 100).json()["id"] for _ in range(3)]

    page = files_api.send("GET", "/api/files/?page_size=2&kind=input", token=token).json()
    results = files_api.send("GET", "/api/files/?kind=result", token=token).json()

    assert set(page) == PAGE_KEYS
    assert page["count"] == 3
    assert [item["id"] for item in page["results"]] == [ids[2], ids[1]]
    assert results["count"] == 0


def test_another_users_file_is_404_for_metadata_download_and_delete(
    files_api: FilesApi, genotypes: dict[str, bytes]
) -> None:
    _, owner = files_api.user_new()
    _, other = files_api.user_new()
    file_id = _upload(files_api, owner, genotypes["good"])

    replies = [
        files_api.send("GET", f"/api/files/{file_id}/", token=other),
        files_api.send("GET", f"/api/files/{file_id}/download/", token=other),
        files_api.send("DELETE", f"/api/files/{file_id}/", token=other),
    ]

    for reply in replies:
        assert _error(reply, 404, "NOT_FOUND")["message"] == "No such file."
    assert files_api.send("GET", f"/api/files/{file_id}/", token=owner).status == 200


def test_delete_answers_204_and_the_file_is_gone(files_api: FilesApi, genotypes: dict[str, bytes]) -> None:
    _, token = files_api.user_new()
    file_id = _upload(files_api, token, genotypes["good"])

    deleted = files_api.send("DELETE", f"/api/files/{file_id}/", token=token)

    assert deleted.status == 204
    _error(files_api.send("GET", f"/api/files/{file_id}/", token=token), 404, "NOT_FOUND")


# --- downloads ------------------------------------------------------------------------------------------------


def test_download_streams_the_bytes_with_ranges(files_api: FilesApi, genotypes: dict[str, bytes]) -> None:
    _, token = files_api.user_new()
    data = genotypes["good"]
    file_id = _upload(files_api, token, data, name="my chr20.vcf.gz")

    whole = files_api.send("GET", f"/api/files/{file_id}/download/", token=token)
    part = files_api.send("GET", f"/api/files/{file_id}/download/", token=token, Range="bytes=100-199")
    past = files_api.send("GET", f"/api/files/{file_id}/download/", token=token, Range=f"bytes={len(data)}-")

    assert (whole.status, whole.content, whole.headers["accept-ranges"]) == (200, data, "bytes")
    assert whole.headers["content-disposition"] == (
        "attachment; filename=\"my chr20.vcf.gz\"; filename*=UTF-8''my%20chr20.vcf.gz"
    )
    assert (part.status, part.content, part.headers["content-range"]) == (
        206,
        data[100:200],
        f"bytes 100-199/{len(data)}",
    )
    _error(past, 416, "RANGE_NOT_SATISFIABLE")
    assert past.headers["content-range"] == f"bytes */{len(data)}"


def test_a_signed_link_serves_the_bytes_without_a_token(files_api: FilesApi, genotypes: dict[str, bytes]) -> None:
    _, token = files_api.user_new()
    file_id = _upload(files_api, token, genotypes["good"])

    link = files_api.send("GET", f"/api/files/{file_id}/download-url/", token=token).json()
    fetched = files_api.send("GET", link["url"], Range="bytes=0-99")
    forged = files_api.send("GET", link["url"].replace(":", "x", 1))

    assert set(link) == {"url", "expires_at"}
    assert (fetched.status, fetched.content) == (206, genotypes["good"][:100])
    _error(forged, 404, "NOT_FOUND")


def test_files_need_a_token(files_api: FilesApi) -> None:
    _error(files_api.send("GET", "/api/files/"), 401, "AUTHENTICATION_ERROR")
