"""The files endpoints other than tus: listing, metadata, deletion, one-shot uploads, downloads, signed links,
results' zip passwords; another user's file is a 404 everywhere."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.test import Client
from django.utils import timezone

from apps.files.models import DB, DownloadLog, FileStatus, UploadedFile
from apps.files.services.downloads import SIGNING_SALT
from apps.files.services.files import result_register
from apps.files.tests.helpers import auth, error, files_commits, sha256, stored, upload
from apps.kernel.timestamps import timestamp

pytestmark = [pytest.mark.django_db(databases=["files"]), pytest.mark.redis]

OWNER, OTHER, ADMIN = 51, 52, 53
DATA = os.urandom(300_000)


def _admin() -> dict[str, str]:
    return auth(ADMIN, role="admin", is_staff=True)


def _result(**overrides: Any) -> UploadedFile:
    fields: dict[str, Any] = {
        "owner_id": OWNER,
        "job_id": "job-7",
        "name": "chr_20.zip",
        "result_type": "imputed",
        "size": 1234,
        "checksum": "md5:0123",
        "source_url": "https://imputation.example.org/share/results/abc/chr_20.zip",
        "zip_password": "pa55-w0rd",
        **overrides,
    }
    return result_register(**fields)


def _content(reply: Any) -> bytes:
    return b"".join(reply.streaming_content)


def _logged() -> list[tuple[int, int | None, str, str]]:
    return list(DownloadLog.objects.using(DB).order_by("pk").values_list("file_id", "actor_id", "action", "byte_range"))


def test_the_file_body_has_the_contract_fields(client: Client) -> None:
    file_id = upload(client, OWNER, DATA)
    file = stored(file_id)

    reply = client.get(f"/api/files/{file_id}/", headers=auth(OWNER))

    assert reply.status_code == 200
    assert reply.json() == {
        "id": file_id,
        "owner_id": OWNER,
        "name": "chr20.vcf.gz",
        "kind": "input",
        "status": "rejected",
        "size": len(DATA),
        "offset": len(DATA),
        "sha256": sha256(DATA),
        "job_id": None,
        "validation": file.validation_report,
        "result": None,
        "created_at": timestamp(file.created_at),
        "updated_at": timestamp(file.updated_at),
        "completed_at": timestamp(file.completed_at),
        "expires_at": timestamp(file.expires_at),
    }
    assert file.expires_at is not None and file.expires_at > timezone.now() + timedelta(days=29)


def test_the_list_is_paginated_newest_first_and_only_the_callers(client: Client) -> None:
    mine = [upload(client, OWNER, DATA[:1000]) for _ in range(3)]
    upload(client, OTHER, DATA[:1000])

    page = client.get("/api/files/?page_size=2", headers=auth(OWNER)).json()

    assert page["count"] == 3
    assert [item["id"] for item in page["results"]] == [mine[2], mine[1]]
    assert page["next"].endswith("page=2&page_size=2")
    assert page["previous"] is None


def test_admins_list_everyones_files(client: Client) -> None:
    upload(client, OWNER, DATA[:1000])
    upload(client, OTHER, DATA[:1000])

    assert client.get("/api/files/", headers=_admin()).json()["count"] == 2


def test_the_list_filters_by_kind_and_job(client: Client) -> None:
    upload(client, OWNER, DATA[:1000])
    result = _result(job_id="job-9")
    _result(job_id="job-10")

    by_kind = client.get("/api/files/?kind=result", headers=auth(OWNER)).json()
    by_job = client.get("/api/files/?job=job-9", headers=auth(OWNER)).json()
    bad = client.get("/api/files/?kind=other", headers=auth(OWNER))

    assert [item["kind"] for item in by_kind["results"]] == ["result", "result"]
    assert [item["id"] for item in by_job["results"]] == [result.pk]
    assert by_job["results"][0]["result"] == {
        "type": "imputed",
        "checksum": "md5:0123",
        "has_source_url": True,
        "has_zip_password": True,
    }
    assert bad.status_code == 400


def test_another_users_file_is_404_for_metadata_validation_download_and_delete(client: Client) -> None:
    file_id = upload(client, OWNER, DATA)

    replies = [
        client.get(f"/api/files/{file_id}/", headers=auth(OTHER)),
        client.get(f"/api/files/{file_id}/validation/", headers=auth(OTHER)),
        client.get(f"/api/files/{file_id}/download/", headers=auth(OTHER)),
        client.get(f"/api/files/{file_id}/download-url/", headers=auth(OTHER)),
        client.delete(f"/api/files/{file_id}/", headers=auth(OTHER)),
    ]

    assert [reply.status_code for reply in replies] == [404] * 5
    assert {str(reply.json()["error"]) for reply in replies} == {str(error("NOT_FOUND", "No such file."))}
    assert stored(file_id).pk == file_id


def test_an_admin_reaches_anyones_file(client: Client) -> None:
    file_id = upload(client, OWNER, DATA)

    assert client.get(f"/api/files/{file_id}/", headers=_admin()).status_code == 200


def test_delete_removes_the_row_and_then_the_bytes(client: Client, media: Path) -> None:
    file_id = upload(client, OWNER, DATA)
    key = stored(file_id).storage_key

    with files_commits():
        reply = client.delete(f"/api/files/{file_id}/", headers=auth(OWNER))

    assert reply.status_code == 204
    assert not UploadedFile.objects.using(DB).filter(pk=file_id).exists()
    assert not (media / key).exists()


def test_the_validation_endpoint_returns_the_report(client: Client) -> None:
    file_id = upload(client, OWNER, DATA)

    body = client.get(f"/api/files/{file_id}/validation/", headers=auth(OWNER)).json()

    assert set(body) == {"file_id", "status", "report"}
    assert (body["file_id"], body["status"]) == (file_id, "rejected")
    assert {problem["severity"] for problem in body["report"]["problems"]} >= {"error"}


def test_download_streams_the_whole_file_and_logs_it(client: Client) -> None:
    file_id = upload(client, OWNER, DATA, name="my data.vcf.gz")

    reply = client.get(f"/api/files/{file_id}/download/", headers=auth(OWNER))

    assert reply.status_code == 200
    assert _content(reply) == DATA
    assert reply["Content-Length"] == str(len(DATA))
    assert reply["Accept-Ranges"] == "bytes"
    assert reply["Content-Disposition"] == "attachment; filename=\"my data.vcf.gz\"; filename*=UTF-8''my%20data.vcf.gz"
    assert reply["ETag"] == f'"{sha256(DATA)}"'
    assert _logged() == [(file_id, OWNER, "download", "")]


@pytest.mark.django_db(databases=["files"], transaction=True)  # no test transaction, so a connection may close
def test_a_download_gives_back_a_database_connection_it_would_not_keep_before_its_bytes_stream(client: Client) -> None:
    # given a stored file
    file_id = upload(client, OWNER, DATA)
    # when its download is answered, before the bytes are read
    reply = client.get(f"/api/files/{file_id}/download/", headers=auth(OWNER))
    held = connections[DB].connection is not None
    # then the connection is closed already where it would be at the request's end anyway (PostgreSQL here), and kept
    # where it outlives requests (embedded SQLite); the bytes and the log line are as ever
    assert held is (connections[DB].settings_dict["CONN_MAX_AGE"] != 0)
    assert _content(reply) == DATA and _logged() == [(file_id, OWNER, "download", "")]


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=100-199", 100, 200), ("bytes=299990-", 299_990, 300_000), ("bytes=-10", 299_990, 300_000)],
)
def test_download_serves_one_range_with_206(client: Client, header: str, start: int, end: int) -> None:
    file_id = upload(client, OWNER, DATA)

    reply = client.get(f"/api/files/{file_id}/download/", headers={**auth(OWNER), "Range": header})

    assert reply.status_code == 206
    assert _content(reply) == DATA[start:end]
    assert reply["Content-Range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
    assert reply["Content-Length"] == str(end - start)
    assert _logged()[-1] == (file_id, OWNER, "download", f"bytes {start}-{end - 1}/{len(DATA)}")


def test_a_range_past_the_end_is_416(client: Client) -> None:
    file_id = upload(client, OWNER, DATA)

    reply = client.get(f"/api/files/{file_id}/download/", headers={**auth(OWNER), "Range": "bytes=300000-"})

    assert reply.status_code == 416
    assert reply.json()["error"] == error(
        "RANGE_NOT_SATISFIABLE", "The requested range lies outside the file's 300000 bytes."
    )
    assert reply["Content-Range"] == "bytes */300000"


def test_several_ranges_get_the_whole_file(client: Client) -> None:
    file_id = upload(client, OWNER, DATA)

    reply = client.get(f"/api/files/{file_id}/download/", headers={**auth(OWNER), "Range": "bytes=0-1,5-9"})

    assert reply.status_code == 200


def test_an_upload_in_progress_cannot_be_downloaded(client: Client) -> None:
    file = UploadedFile.objects.using(DB).create(owner_id=OWNER, name="a.vcf.gz", upload_length=10, storage_key="k")

    reply = client.get(f"/api/files/{file.pk}/download/", headers=auth(OWNER))

    assert reply.status_code == 409


def test_a_signed_link_serves_the_bytes_without_a_token_until_it_expires(client: Client, settings: Any) -> None:
    file_id = upload(client, OWNER, DATA)

    link = client.get(f"/api/files/{file_id}/download-url/", headers=auth(OWNER)).json()
    fetched = client.get(link["url"], headers={"Range": "bytes=0-9"})
    settings.FILES_SIGNED_URL_SECONDS = -1
    expired = client.get(link["url"])

    assert link["url"].startswith("/api/files/signed/")
    assert fetched.status_code == 206
    assert _content(fetched) == DATA[:10]
    assert expired.status_code == 404
    assert expired.json()["error"]["message"] == "This download link has expired; ask for a new one."
    assert [row[2] for row in _logged()] == ["link", "signed"]


def test_a_forged_or_stale_signed_link_is_404(client: Client) -> None:
    file_id = upload(client, OWNER, DATA)
    forged = signing.dumps({"f": file_id, "k": stored(file_id).storage_key}, salt="another-salt")
    stale = signing.dumps({"f": file_id, "k": "uploads/0123"}, salt=SIGNING_SALT)

    replies = [client.get(f"/api/files/signed/{token}/") for token in (forged, stale)]

    assert [reply.status_code for reply in replies] == [404, 404]
    assert {reply.json()["error"]["message"] for reply in replies} == {"This download link is not valid."}


def test_a_link_only_result_redirects_to_its_source(client: Client) -> None:
    result = _result()

    reply = client.get(f"/api/files/{result.pk}/download/", headers=auth(OWNER))

    assert reply.status_code == 302
    assert reply["Location"] == "https://imputation.example.org/share/results/abc/chr_20.zip"
    assert _logged() == [(result.pk, OWNER, "redirect", "")]


def test_the_zip_password_is_shown_to_the_owner_only(client: Client) -> None:
    result = _result()

    mine = client.get(f"/api/files/{result.pk}/zip-password/", headers=auth(OWNER))
    admins = client.get(f"/api/files/{result.pk}/zip-password/", headers=_admin())
    others = client.get(f"/api/files/{result.pk}/zip-password/", headers=auth(OTHER))

    assert (mine.status_code, mine.json(), mine["Cache-Control"]) == (200, {"zip_password": "pa55-w0rd"}, "no-store")
    assert admins.status_code == 403
    assert others.status_code == 404
    assert "pa55-w0rd" not in result.result.zip_password


def test_a_one_shot_upload_is_stored_hashed_and_validated(client: Client, media: Path) -> None:
    with files_commits():
        reply = client.post("/api/files/", {"file": SimpleUploadedFile("../chr1.vcf.gz", DATA)}, headers=auth(OWNER))

    assert reply.status_code == 201
    body = reply.json()
    assert (body["name"], body["size"], body["sha256"], body["status"]) == (
        "chr1.vcf.gz",
        len(DATA),
        sha256(DATA),
        "validating",
    )
    assert stored(body["id"]).status == FileStatus.REJECTED  # judged once the upload committed
    assert (media / stored(body["id"]).storage_key).read_bytes() == DATA


def test_a_one_shot_upload_over_its_limit_is_413(client: Client, settings: Any) -> None:
    settings.FILES_ONESHOT_MAX_BYTES = 1000

    reply = client.post("/api/files/", {"file": SimpleUploadedFile("a.vcf.gz", DATA)}, headers=auth(OWNER))

    assert reply.status_code == 413
    assert not UploadedFile.objects.using(DB).exists()


def test_a_one_shot_upload_needs_the_file_field(client: Client) -> None:
    reply = client.post("/api/files/", {"other": "x"}, headers=auth(OWNER))

    assert reply.status_code == 400
    assert reply.json()["error"]["details"] == {"file": ["Required."]}


def test_files_need_authentication(client: Client) -> None:
    reply = client.get("/api/files/")

    assert reply.status_code == 401


def test_results_are_ready_immediately() -> None:
    assert _result().status == FileStatus.READY
