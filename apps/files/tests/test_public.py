"""The files context's public interface: the in-process and the remote implementation pass the same tests.

Each test makes its files through one target: in-process (the Django test client on this test's database) or a
real gateway in front of real users and files deployables (with the files deployable's Celery worker), and then
asks the public interface reading that same database: locally `LocalFilesService`, remotely `RemoteFilesService`
over HTTP with internal service tokens and signed URLs.
"""

from __future__ import annotations

import base64
import io
import json
import os
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
    FileInfo,
    FileMissingError,
    FileNotReadableError,
    FilesService,
    FilesUnavailableError,
    ResultInvalidError,
)
from apps.files.remote import RemoteFilesService
from apps.files.tests.helpers import CHUNK_TYPE, TUS, auth, sha256, token_of, upload
from apps.genomics.simulate import vcf_simulate
from apps.kernel.internal_auth import INTERNAL_TOKEN_HEADER, internal_token_issue
from tests.contract.fixtures import FilesApi, _django_reply, _remote_api
from tests.contract.targets import HttpTarget
from tests.servers import Server, free_port

pytestmark = [pytest.mark.django_db(databases=["files"]), pytest.mark.redis]

LOCAL_OWNER = 91
LOCAL_OTHER = 92
LOCAL_ADMIN = 93
RESULT_NAME = "chr20.dose.vcf.gz.zip"


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

    def other(self, *, admin: bool = False) -> str:
        """The access token of another user (or of an admin)."""
        if self.api is None:
            return token_of(LOCAL_ADMIN, role="admin", is_staff=True) if admin else token_of(LOCAL_OTHER)
        return self.api.user_new("admin" if admin else "researcher")[1]

    def get(self, path: str, *, token: str | None, byte_range: str = "") -> tuple[int, bytes]:
        """A GET through the API as the token's user (anonymous without one): its status and body."""
        headers = {"Range": byte_range} if byte_range else {}
        if self.api is not None:
            ranged = self.api.send("GET", path, token=token, Range=byte_range) if byte_range else None
            reply = ranged or self.api.send("GET", path, token=token)
        else:
            assert self.client is not None
            authorization = {"Authorization": f"Bearer {token}"} if token else {}
            reply = _django_reply(self.client.get(path, headers={**headers, **authorization}))
        return reply.status, reply.content

    def token(self, owner: tuple[int, str | None]) -> str:
        return owner[1] or token_of(owner[0])


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


@pytest.fixture
def result_file(tmp_path: Path) -> tuple[Path, bytes]:
    """A result as the jobs context fetched it: several blocks long, not a whole number of them."""
    data = os.urandom(3 * 1024 * 1024 + 4321)
    path = tmp_path / "fetched.zip"
    path.write_bytes(data)
    return path, data


def _store(world: World, owner: tuple[int, str | None], source: Path, digest: str, **fields: Any) -> FileInfo:
    return world.service.result_store(
        owner_id=owner[0],
        job_id=fields.pop("job_id", "job-stored"),
        name=RESULT_NAME,
        result_type="imputed",
        source=source,
        sha256=digest,
        **fields,
    )


def test_a_stored_result_is_downloadable_by_its_owner_with_its_exact_bytes(
    world: World, result_file: tuple[Path, bytes]
) -> None:
    source, data = result_file
    owner = world.owner()
    token = world.token(owner)
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    expires = timezone.now() + timedelta(days=3)

    info = _store(world, owner, source, sha256(data), job_id=job_id, expires_at=expires)
    whole = world.get(f"/api/files/{info.id}/download/", token=token)
    part = world.get(f"/api/files/{info.id}/download/", token=token, byte_range="bytes=1000-1999")
    link = world.get(f"/api/files/{info.id}/download-url/", token=token)
    signed = world.get(json.loads(link[1])["url"], token=None)
    with world.service.file_open(file_id=info.id) as stream:
        opened = stream.read()

    assert (info.owner_id, info.name, info.kind, info.status, info.result_type, info.job_id) == (
        owner[0],
        RESULT_NAME,
        "result",
        "ready",
        "imputed",
        job_id,
    )
    assert (info.size, info.sha256) == (len(data), sha256(data))
    assert info.expires_at is not None and abs((info.expires_at - expires).total_seconds()) < 1
    assert whole == (200, data)
    assert part == (206, data[1000:2000])
    assert signed == (200, data)
    assert opened == data


def test_a_stored_result_is_hidden_from_other_users_and_reachable_by_an_admin(
    world: World, result_file: tuple[Path, bytes]
) -> None:
    source, data = result_file
    info = _store(world, world.owner(), source, sha256(data))

    others = world.get(f"/api/files/{info.id}/download/", token=world.other())
    admins = world.get(f"/api/files/{info.id}/download/", token=world.other(admin=True))

    assert others[0] == 404
    assert admins == (200, data)


def test_a_result_whose_bytes_do_not_have_the_sha256_is_refused_and_nothing_is_kept(
    world: World, result_file: tuple[Path, bytes]
) -> None:
    source, data = result_file
    owner = world.owner()

    with pytest.raises(ResultInvalidError, match="SHA-256"):
        _store(world, owner, source, sha256(data + b"!"))
    listing = world.get("/api/files/?kind=result", token=world.token(owner))

    assert json.loads(listing[1])["count"] == 0


def test_storing_the_same_result_again_returns_the_first(world: World, result_file: tuple[Path, bytes]) -> None:
    source, data = result_file
    owner = world.owner()

    first = _store(world, owner, source, sha256(data))
    again = _store(world, owner, source, sha256(data))
    listing = json.loads(world.get("/api/files/?kind=result", token=world.token(owner))[1])

    assert again == first
    assert [item["id"] for item in listing["results"]] == [first.id]


def test_the_zip_password_of_a_stored_result_is_shown_to_its_owner_only(
    world: World, result_file: tuple[Path, bytes]
) -> None:
    source, data = result_file
    owner = world.owner()
    info = _store(world, owner, source, sha256(data), zip_password="tight lipped 42")

    mine = world.get(f"/api/files/{info.id}/zip-password/", token=world.token(owner))
    admins = world.get(f"/api/files/{info.id}/zip-password/", token=world.other(admin=True))
    others = world.get(f"/api/files/{info.id}/zip-password/", token=world.other())

    assert (mine[0], json.loads(mine[1])) == (200, {"zip_password": "tight lipped 42"})
    assert (admins[0], others[0]) == (403, 404)


def test_a_stored_result_needs_a_known_type(world: World, result_file: tuple[Path, bytes]) -> None:
    source, data = result_file

    with pytest.raises(ResultInvalidError, match="result_type"):
        world.service.result_store(
            owner_id=world.owner()[0],
            job_id="j",
            name=RESULT_NAME,
            result_type="genome",
            source=source,
            sha256=sha256(data),
        )


def test_storage_health_reports_the_storage_holding_the_files_and_its_free_space(
    world: World, genotypes: bytes
) -> None:
    world.upload(genotypes, owner=world.owner())  # the media root exists once something is stored

    health = world.service.storage_health()

    assert (health.backend, health.ok, health.detail) == ("local", True, health.data["root"])
    assert set(health.data) == {"root", "free_bytes", "total_bytes"}
    assert Path(health.data["root"]).name == "media"
    assert 0 < health.data["free_bytes"] <= health.data["total_bytes"]


def test_internal_endpoints_refuse_callers_without_an_internal_token(files_deployable: Server) -> None:
    target = HttpTarget("remote", files_deployable.url)

    anonymous = target.call("GET", "/internal/files/1/")
    for_users = target.call(
        "GET", "/internal/files/1/", headers={INTERNAL_TOKEN_HEADER: internal_token_issue(audience="users")}
    )
    storage = target.call("GET", "/internal/files/storage-health/")

    assert anonymous.status == for_users.status == storage.status == 401
    assert "root" not in str(storage.body)


def test_an_unreachable_files_deployable_is_files_unavailable() -> None:
    service = RemoteFilesService(base_url=f"http://127.0.0.1:{free_port()}", timeout=1)

    with pytest.raises(FilesUnavailableError):
        service.file_get(file_id=1)
    with pytest.raises(FilesUnavailableError, match="files deployable unreachable: ConnectError"):
        service.storage_health()


def test_the_local_service_opens_from_storage_in_blocks(client: Client, genotypes: bytes, media: Path) -> None:
    file_id = upload(client, LOCAL_OWNER, genotypes)

    with LocalFilesService().file_open(file_id=file_id) as stream:
        assert stream.read(10) == genotypes[:10]
