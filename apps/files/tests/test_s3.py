"""The S3 path against a real S3-protocol server on loopback (moto_server in its own process): tus uploads as
multipart uploads (parts of at least 5 MiB, small chunks waiting in a tail object), presigned downloads, deletion,
aborting an unfinished upload, one-shot uploads and the validation copy; the storage probe of the health report,
against the bucket, a missing bucket, a closed port and an endpoint that never answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.test import Client
from django.utils import timezone

from apps.files.impl import LocalFilesService
from apps.files.models import FileStatus
from apps.files.public import ResultInvalidError, StorageHealth
from apps.files.services.retention import RetentionReport, storage_reconcile
from apps.files.storage import PROBE_READ_SECONDS, S3Backend, storage_backend
from apps.files.tests.helpers import TUS, auth, files_commits, sha256, stored, tus_create, tus_patch, upload
from tests.servers import free_port

pytestmark = [pytest.mark.django_db(databases=["files"]), pytest.mark.redis]

OWNER = 61
MIB = 1024**2


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("moto_server did not start")
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(autouse=True)
def s3(moto_url: str, settings: Any) -> Any:
    bucket = f"files-{uuid.uuid4().hex[:12]}"
    settings.FILES_STORAGE = "s3"
    settings.FILES_S3_BUCKET = bucket
    settings.FILES_S3_ENDPOINT_URL = moto_url
    settings.FILES_S3_REGION = "us-east-1"
    settings.FILES_S3_ADDRESSING_STYLE = "path"
    settings.FILES_S3_ACCESS_KEY_ID = "testing"
    settings.FILES_S3_SECRET_ACCESS_KEY = "testing"
    client = boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=bucket)
    client.bucket = bucket
    return client


def _keys(s3: Any) -> list[str]:
    return sorted(entry["Key"] for entry in s3.list_objects_v2(Bucket=s3.bucket).get("Contents", []))


def _object(s3: Any, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=s3.bucket, Key=key)["Body"].read())


def test_the_backend_is_s3() -> None:
    assert isinstance(storage_backend(), S3Backend)


def test_a_tus_upload_in_uneven_chunks_becomes_one_object_through_multipart_parts(client: Client, s3: Any) -> None:
    data = os.urandom(13 * MIB + 5)
    sizes = [2 * MIB, 2 * MIB, 6 * MIB, MIB]  # 4 MiB wait in the tail, then a 10 MiB part, then the rest
    file_id = tus_create(client, OWNER, length=len(data)).json()["id"]
    offset, seen_tail = 0, False
    for size in [*sizes, len(data) - sum(sizes)]:
        reply = tus_patch(client, OWNER, file_id, offset=offset, data=data[offset : offset + size])
        assert reply.status_code == 204, reply.content
        offset += size
        seen_tail |= any(key.endswith(".tail") for key in _keys(s3))

    file = stored(file_id)
    assert seen_tail
    assert file.sha256 == sha256(data)
    assert file.status == FileStatus.REJECTED  # random bytes, validated from a downloaded copy
    assert _keys(s3) == [file.storage_key]
    assert _object(s3, file.storage_key) == data
    assert s3.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []


def test_download_redirects_to_a_presigned_url_that_serves_ranges(client: Client) -> None:
    data = os.urandom(200_000)
    file_id = upload(client, OWNER, data, name="chr2.vcf.gz")

    reply = client.get(f"/api/files/{file_id}/download/", headers=auth(OWNER))
    whole = urllib.request.urlopen(reply["Location"])
    part = urllib.request.urlopen(urllib.request.Request(reply["Location"], headers={"Range": "bytes=10-19"}))

    assert reply.status_code == 302
    assert "X-Amz-Signature=" in reply["Location"] and "X-Amz-Expires=300" in reply["Location"]
    assert whole.read() == data
    assert whole.headers["content-disposition"] == "attachment; filename=\"chr2.vcf.gz\"; filename*=UTF-8''chr2.vcf.gz"
    assert (part.status, part.read()) == (206, data[10:20])


def test_delete_removes_the_object(client: Client, s3: Any) -> None:
    file_id = upload(client, OWNER, os.urandom(1000))
    assert len(_keys(s3)) == 1

    with files_commits():
        reply = client.delete(f"/api/files/{file_id}/", headers=auth(OWNER))

    assert reply.status_code == 204
    assert _keys(s3) == []


def test_terminating_an_unfinished_upload_aborts_its_multipart_upload(client: Client, s3: Any) -> None:
    data = os.urandom(12 * MIB)
    file_id = tus_create(client, OWNER, length=len(data)).json()["id"]
    tus_patch(client, OWNER, file_id, offset=0, data=data[: 6 * MIB])
    tus_patch(client, OWNER, file_id, offset=6 * MIB, data=data[6 * MIB : 7 * MIB])
    assert len(s3.list_multipart_uploads(Bucket=s3.bucket)["Uploads"]) == 1

    with files_commits():
        reply = client.delete(f"/api/files/uploads/{file_id}/", headers={**TUS, **auth(OWNER)})

    assert reply.status_code == 204
    assert s3.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []
    assert _keys(s3) == []


def test_a_one_shot_upload_is_stored_in_s3(client: Client, s3: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = os.urandom(50_000)
    with files_commits():
        reply = client.post("/api/files/", {"file": SimpleUploadedFile("x.vcf.gz", data)}, headers=auth(OWNER))

    assert reply.status_code == 201
    assert _object(s3, stored(reply.json()["id"]).storage_key) == data


def test_reconciliation_finds_an_unowned_object(client: Client, s3: Any) -> None:
    upload(client, OWNER, os.urandom(1000))
    s3.put_object(Bucket=s3.bucket, Key="uploads/stray", Body=b"stray")
    report = RetentionReport()

    storage_reconcile(now=timezone.now(), report=report)

    assert report.orphans_found == ["uploads/stray"]
    assert report.missing == []


def test_a_stored_result_is_an_s3_object_under_results_served_by_a_presigned_url(
    client: Client, s3: Any, tmp_path: Path
) -> None:
    data = os.urandom(6 * MIB + 7)  # past boto3's multipart threshold
    source = tmp_path / "fetched.zip"
    source.write_bytes(data)

    info = LocalFilesService().result_store(
        owner_id=OWNER, job_id="job-s3", name="chr1.zip", result_type="imputed", source=source, sha256=sha256(data)
    )
    reply = client.get(f"/api/files/{info.id}/download/", headers=auth(OWNER))

    assert _keys(s3) == [stored(info.id).storage_key]
    assert stored(info.id).storage_key.startswith("results/")
    assert reply.status_code == 302
    assert urllib.request.urlopen(reply["Location"]).read() == data


def test_a_result_with_the_wrong_sha256_leaves_no_object_in_s3(s3: Any, tmp_path: Path) -> None:
    source = tmp_path / "fetched.zip"
    source.write_bytes(b"not what was promised")

    with pytest.raises(ResultInvalidError):
        LocalFilesService().result_store(
            owner_id=OWNER, job_id="job-s3", name="x.zip", result_type="log", source=source, sha256="0" * 64
        )

    assert _keys(s3) == []


def test_part_size_keeps_any_upload_under_ten_thousand_parts() -> None:
    assert S3Backend.part_size(1024) == 5 * MIB
    assert S3Backend.part_size(100 * 1024**3) == 12 * MIB
    assert 100 * 1024**3 / S3Backend.part_size(100 * 1024**3) < 10_000


def test_the_storage_probe_finds_the_bucket(s3: Any, moto_url: str) -> None:
    health = LocalFilesService().storage_health()

    assert health == StorageHealth(
        "s3", True, f"bucket {s3.bucket} answers", {"bucket": s3.bucket, "endpoint": moto_url}
    )


def test_the_storage_probe_says_the_bucket_is_missing(settings: Any, moto_url: str) -> None:
    settings.FILES_S3_BUCKET = "files-never-created"

    health = LocalFilesService().storage_health()

    assert health == StorageHealth(
        "s3",
        False,
        "bucket files-never-created: HeadBucket answered 404 Not Found",
        {"bucket": "files-never-created", "endpoint": moto_url},
    )


def test_the_storage_probe_of_a_closed_port_says_it_cannot_connect(settings: Any) -> None:
    settings.FILES_S3_ENDPOINT_URL = closed = f"http://127.0.0.1:{free_port()}"

    health = LocalFilesService().storage_health()

    assert (health.ok, health.data["endpoint"]) == (False, closed)
    assert health.detail.startswith(f"bucket {settings.FILES_S3_BUCKET}: EndpointConnectionError: ")


def test_the_storage_probe_of_an_endpoint_that_never_answers_gives_up_after_its_timeout(settings: Any) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connections queue in its backlog, nothing ever replies
        settings.FILES_S3_ENDPOINT_URL = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        health = LocalFilesService().storage_health()
        waited = time.monotonic() - started

    # one attempt with the probe's read timeout, not boto3's defaults (60 s reads, tried again with backoff)
    assert PROBE_READ_SECONDS <= waited < 3 * PROBE_READ_SECONDS
    assert not health.ok
    assert health.detail.startswith(f"bucket {settings.FILES_S3_BUCKET}: ReadTimeoutError: ")
