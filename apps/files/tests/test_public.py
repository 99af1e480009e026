"""The files context's public interface: the in-process and the remote implementation pass the same tests.

Each test makes its files through one target: in-process (the Django test client on this test's database) or a
real gateway in front of real users and files deployables (with the files deployable's Celery worker), and then
asks the public interface reading that same database: locally `LocalFilesService`, remotely `RemoteFilesService`
over HTTP with internal service tokens and signed URLs.
"""

from __future__ import annotations

import base64
import io
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.files.impl import LocalFilesService
from apps.files.public import (
    FileMissingError,
    FileNotReadableError,
    FilesService,
    FilesUnavailableError,
    ResultInvalidError,
)
from apps.files.remote import RemoteFilesService
from apps.files.tests.helpers import CHUNK_TYPE, TUS, auth, sha256, upload
from apps.genomics.simulate import vcf_simulate
from apps.kernel.internal_auth import INTERNAL_TOKEN_HEADER, internal_token_issue
from tests.contract.fixtures import FilesApi, _remote_api
from tests.contract.targets import HttpTarget
from tests.servers import Server, free_port

pytestmark = [pytest.mark.django_db(databases=["files"]), pytest.mark.redis]

LOCAL_OWNER = 91


@pytest.fixture(scope="module")
def genotypes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("public") / "chr20.vcf.gz"
    vcf_simulate(path, samples=25, sites=3000, length=6_000_000, build="hg38", seed=11)
    return path.read_bytes()


@dataclass
class World:
    """Where files are made (a target's API) and the public interface implementation that reads them."""

    service: FilesService
    client: Client | None = None
    api: FilesApi | None = None

    def owner(self) -> tuple[int, str | None]:
        if self.api is None:
            return LOCAL_OWNER, None
        return self.api.user_new()

    def upload(self, data: bytes, *, owner: tuple[int, str | None], complete: bool = True) -> int:
        user_id, token = owner
        if self.api is None:
            assert self.client is not None
            if complete:
                return upload(self.client, user_id, data, chunk=100_000)
            return int(self._create(len(data), user_id).json()["id"])
        assert token is not None
        name = base64.b64encode(b"chr20.vcf.gz").decode()
        created = self.api.send(
            "POST",
            "/api/files/uploads/",
            token=token,
            Tus_Resumable="1.0.0",
            Upload_Length=str(len(data)),
            Upload_Metadata=f"filename {name}",
        ).json()
        if complete:
            self.api.send(
                "PATCH",
                f"/api/files/uploads/{created['id']}/",
                token=token,
                body=data,
                Tus_Resumable="1.0.0",
                Upload_Offset="0",
                Content_Type=CHUNK_TYPE,
            )
            self.api.settled(created["id"], token=token)
        return int(created["id"])

    def _create(self, length: int, user_id: int) -> Any:
        assert self.client is not None
        headers = {**TUS, **auth(user_id), "Upload-Length": str(length), "Upload-Metadata": "filename YS52Y2YuZ3o="}
        return self.client.post("/api/files/uploads/", headers=headers)

    def zip_password(self, file_id: int, owner: tuple[int, str | None]) -> Any:
        user_id, token = owner
        if self.api is None:
            assert self.client is not None
            return self.client.get(f"/api/files/{file_id}/zip-password/", headers=auth(user_id)).json()
        return self.api.send("GET", f"/api/files/{file_id}/zip-password/", token=token).json()


@pytest.fixture(params=["local", "remote"])
def world(request: pytest.FixtureRequest, client: Client) -> World:
    if request.param == "local":
        return World(LocalFilesService(), client=client)
    deployable: Server = request.getfixturevalue("files_deployable")
    api = FilesApi(_remote_api(request.getfixturevalue("files_gateway")))
    return World(RemoteFilesService(base_url=deployable.url), api=api)


def test_file_get_returns_the_metadata_and_the_verdict(world: World, genotypes: bytes) -> None:
    owner = world.owner()
    file_id = world.upload(genotypes, owner=owner)

    info = world.service.file_get(file_id=file_id)

    assert (info.id, info.owner_id, info.name, info.kind, info.status) == (
        file_id,
        owner[0],
        "chr20.vcf.gz",
        "input",
        "ready",
    )
    assert (info.size, info.sha256, info.job_id, info.result_type) == (len(genotypes), sha256(genotypes), None, None)
    assert info.validation is not None and (info.validation["samples"], info.validation["ok"]) == (25, True)
    assert info.created_at <= timezone.now()


def test_file_open_streams_the_exact_bytes(world: World, genotypes: bytes) -> None:
    file_id = world.upload(genotypes, owner=world.owner())

    with world.service.file_open(file_id=file_id) as stream:
        first = stream.read(1000)
        rest = stream.read()

    assert first + rest == genotypes
    assert isinstance(stream, io.BufferedIOBase)


def test_an_unfinished_upload_cannot_be_opened(world: World, genotypes: bytes) -> None:
    file_id = world.upload(genotypes, owner=world.owner(), complete=False)

    with pytest.raises(FileNotReadableError), world.service.file_open(file_id=file_id):
        pass


def test_an_unknown_file_is_file_missing(world: World) -> None:
    with pytest.raises(FileMissingError):
        world.service.file_get(file_id=987_654_321)


def test_a_registered_result_is_listed_with_its_password_for_the_owner(world: World) -> None:
    owner = world.owner()
    expires = timezone.now() + timedelta(days=7)
    job_id = f"job-{uuid.uuid4().hex[:8]}"

    info = world.service.result_register(
        owner_id=owner[0],
        job_id=job_id,
        name="chr_20.zip",
        result_type="imputed",
        size=1234,
        checksum="md5:ab12",
        source_url="https://imputation.example.org/share/results/x/chr_20.zip",
        expires_at=expires,
        zip_password="s3cret pass",
    )

    assert (info.kind, info.status, info.result_type, info.job_id, info.size) == (
        "result",
        "ready",
        "imputed",
        job_id,
        1234,
    )
    assert info.expires_at is not None and abs((info.expires_at - expires).total_seconds()) < 1
    assert world.zip_password(info.id, owner) == {"zip_password": "s3cret pass"}
    with pytest.raises(FileNotReadableError), world.service.file_open(file_id=info.id):
        pass


def test_an_invalid_result_is_refused(world: World) -> None:
    with pytest.raises(ResultInvalidError):
        world.service.result_register(owner_id=1, job_id="j", name="x.zip", result_type="genome")


def test_internal_endpoints_refuse_callers_without_an_internal_token(files_deployable: Server) -> None:
    target = HttpTarget("remote", files_deployable.url)

    anonymous = target.call("GET", "/internal/files/1/")
    for_users = target.call(
        "GET", "/internal/files/1/", headers={INTERNAL_TOKEN_HEADER: internal_token_issue(audience="users")}
    )

    assert anonymous.status == for_users.status == 401


def test_an_unreachable_files_deployable_is_files_unavailable() -> None:
    service = RemoteFilesService(base_url=f"http://127.0.0.1:{free_port()}", timeout=1)

    with pytest.raises(FilesUnavailableError):
        service.file_get(file_id=1)


def test_the_local_service_opens_from_storage_in_blocks(client: Client, genotypes: bytes, media: Path) -> None:
    file_id = upload(client, LOCAL_OWNER, genotypes)

    with LocalFilesService().file_open(file_id=file_id) as stream:
        assert stream.read(10) == genotypes[:10]
