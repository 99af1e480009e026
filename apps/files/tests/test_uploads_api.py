"""Resumable uploads (tus 1.0.0) through the whole stack: creation, offsets, chunks, resume, termination, limits."""

from __future__ import annotations

import errno
import io
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client import REGISTRY

from apps.files.appender import Appender
from apps.files.hashing import STATE_SIZE, ResumableSha256
from apps.files.metrics import PHASES
from apps.files.models import DB, FileStatus, StorageAccount, UploadedFile
from apps.files.services import uploads
from apps.files.services.uploads import _lease_take, upload_append
from apps.files.storage import BLOCK
from apps.files.tests.helpers import (
    CHUNK_TYPE,
    TUS,
    FakeUsers,
    auth,
    b64,
    error,
    files_commits,
    sha256,
    stored,
    tus_create,
    tus_head,
    tus_patch,
    upload,
)
from apps.kernel.errors import ApplicationError, ConflictError

pytestmark = [pytest.mark.django_db(databases=["files"]), pytest.mark.redis]

OWNER, OTHER = 41, 42
DATA = os.urandom(3 * 1024 * 1024 + 17)


def _refused(reply: Any, status: int, code: str, message: str, details: Any = None) -> None:
    assert reply.status_code == status, reply.content
    expected = error(code, message) if details is None else {**error(code, message), "details": details}
    assert reply.json() == {"error": expected, "request_id": reply["X-Request-ID"]}


def test_options_advertises_the_protocol(client: Client) -> None:
    reply = client.options("/api/files/uploads/", headers=auth(OWNER))

    assert reply.status_code == 204
    assert (reply["Tus-Resumable"], reply["Tus-Version"], reply["Tus-Extension"]) == (
        "1.0.0",
        "1.0.0",
        "creation,expiration,termination",
    )
    assert reply["Tus-Max-Size"] == str(100 * 1024**3)


def test_creation_answers_201_with_a_location_and_the_file(client: Client) -> None:
    reply = tus_create(client, OWNER, length=len(DATA), name="chr20.vcf.gz")

    assert reply.status_code == 201
    body = reply.json()
    assert reply["Location"] == f"/api/files/uploads/{body['id']}/"
    assert reply["Tus-Resumable"] == "1.0.0"
    assert reply["Upload-Offset"] == "0"
    assert "Upload-Expires" in reply
    assert {key: body[key] for key in ("owner_id", "name", "kind", "status", "size", "offset", "sha256")} == {
        "owner_id": OWNER,
        "name": "chr20.vcf.gz",
        "kind": "input",
        "status": "uploading",
        "size": len(DATA),
        "offset": 0,
        "sha256": None,
    }
    file = stored(body["id"])
    assert file.storage_key.startswith("uploads/") and len(file.storage_key) == len("uploads/") + 32


def test_a_request_without_tus_resumable_is_412_naming_the_version(client: Client) -> None:
    reply = client.post("/api/files/uploads/", headers={**auth(OWNER), "Upload-Length": "10"})

    assert reply.status_code == 412
    assert reply["Tus-Version"] == "1.0.0"
    assert reply.json()["error"]["code"] == "PRECONDITION_FAILED"


def test_chunks_append_at_the_offset_and_head_reports_it(client: Client) -> None:
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]

    first = tus_patch(client, OWNER, file_id, offset=0, data=DATA[: 1 << 20])
    head = tus_head(client, OWNER, file_id)

    assert first.status_code == 204
    assert first["Upload-Offset"] == str(1 << 20)
    assert head.status_code == 200
    assert (head["Upload-Offset"], head["Upload-Length"], head["Cache-Control"]) == (
        str(1 << 20),
        str(len(DATA)),
        "no-store",
    )
    assert len(bytes(stored(file_id).sha256_state or b"")) == STATE_SIZE


def test_the_last_chunk_completes_the_upload_with_its_sha256(client: Client, media: Path) -> None:
    file_id = upload(client, OWNER, DATA, chunk=1 << 20)

    file = stored(file_id)
    assert file.upload_offset == file.size == len(DATA)
    assert file.sha256 == sha256(DATA)
    assert file.sha256_state is None
    assert file.status == FileStatus.REJECTED  # random bytes: validated (eagerly) and refused, not crashed on
    assert (media / file.storage_key).read_bytes() == DATA


def test_an_interrupted_chunk_is_not_kept_and_the_upload_resumes_with_the_right_sha256(client: Client) -> None:
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]
    tus_patch(client, OWNER, file_id, offset=0, data=DATA[:1000])

    with pytest.raises(ApplicationError) as cut:  # the connection dropped 4000 bytes into the chunk
        upload_append(file=stored(file_id), offset=1000, body=io.BytesIO(DATA[1000:5000]), length=len(DATA) - 1000)
    resumed_at = int(tus_head(client, OWNER, file_id)["Upload-Offset"])
    rest = tus_patch(client, OWNER, file_id, offset=resumed_at, data=DATA[resumed_at:])

    assert cut.value.message == (
        f"The request body ended after 4000 of the {len(DATA) - 1000} bytes announced; nothing of it was kept. "
        "Resume from HEAD's offset."
    )
    assert resumed_at == 1000
    assert stored(file_id).lease_token == ""
    assert rest.status_code == 204
    assert stored(file_id).sha256 == sha256(DATA)


class _Watched(io.BytesIO):
    """A chunk's body that notes, at each read (into the upload's buffers), whether the reading thread holds a files
    database connection."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.held: list[bool] = []

    def readinto(self, buffer: Any) -> int:
        self.held.append(connections[DB].connection is not None)
        return super().readinto(buffer)


@pytest.mark.django_db(databases=["files"], transaction=True)  # no test transaction, so a connection may close
@pytest.mark.parametrize("hold", [0.0, 3600.0], ids=["slow chunk", "fast chunk"])
def test_a_slow_chunk_gives_back_a_database_connection_it_would_not_keep(
    client: Client, monkeypatch: pytest.MonkeyPatch, hold: float
) -> None:
    # given an upload, and a chunk whose body takes longer than a connection is held for (no time at all), or not
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]
    monkeypatch.setattr(uploads, "BODY_HOLD_SECONDS", hold)
    body = _Watched(DATA)
    # when it is appended
    file = upload_append(file=stored(file_id), offset=0, body=body, length=len(DATA))
    # then a slow chunk's body was read without the connection where the request's end would close it anyway
    # (PostgreSQL here) and with it where it outlives requests (embedded SQLite); a fast chunk kept it for its commit;
    # either way the chunk committed
    kept = connections[DB].settings_dict["CONN_MAX_AGE"] != 0 or hold > 0
    assert len(body.held) >= 4 and all(held is kept for held in body.held), body.held
    assert file.upload_offset == stored(file_id).upload_offset == len(DATA)
    assert stored(file_id).sha256 == sha256(DATA)


class _Trickling(_Watched):
    """A slow client: at most 64 KiB per read, 20 ms apart."""

    def readinto(self, buffer: Any) -> int:
        time.sleep(0.02)
        return super().readinto(buffer[: 64 * 1024])


@pytest.mark.django_db(databases=["files"], transaction=True)  # no test transaction, so a connection may close
def test_a_trickling_chunk_gives_back_its_connection_before_its_first_block_is_full(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a chunk smaller than one block (900 KiB) arriving 64 KiB at a time, and a connection held 0.1 s at most
    data = DATA[: 900 * 1024]
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]
    monkeypatch.setattr(uploads, "BODY_HOLD_SECONDS", 0.1)
    body = _Trickling(data)
    # when it is appended
    upload_append(file=stored(file_id), offset=0, body=body, length=len(data))
    # then the first reads had the connection, and the last ones no longer where the request's end would close it
    kept = connections[DB].settings_dict["CONN_MAX_AGE"] != 0
    assert body.held[0] is True and body.held[-1] is kept, body.held
    assert stored(file_id).upload_offset == len(data)


class _Stalling(_Watched):
    """A client that stops sending before its body for longer than any wait for it, then sends it all."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.waits: list[float] = []

    def wait_readable(self, timeout: float) -> bool:
        self.waits.append(timeout)
        if len(self.waits) > 1:
            return True
        time.sleep(timeout)  # nothing arrives in time
        return False


@pytest.mark.django_db(databases=["files"], transaction=True)  # no test transaction, so a connection may close
def test_a_stalled_chunk_gives_back_its_connection_without_waiting_in_a_read(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a chunk whose client sends nothing for longer than a connection is held (0.1 s)
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]
    monkeypatch.setattr(uploads, "BODY_HOLD_SECONDS", 0.1)
    body = _Stalling(DATA)
    # when it is appended
    upload_append(file=stored(file_id), offset=0, body=body, length=len(DATA))
    # then it waited for bytes no longer than the hold, and its first read already ran without the connection where
    # the request's end would close it anyway; the chunk still committed
    kept = connections[DB].settings_dict["CONN_MAX_AGE"] != 0
    assert len(body.waits) == 1 and 0 < body.waits[0] <= 0.1
    assert body.held[0] is kept, body.held
    assert stored(file_id).upload_offset == len(DATA)
    assert stored(file_id).sha256 == sha256(DATA)


def test_a_chunk_received_into_reused_buffers_is_hashed_and_stored_intact_while_both_lag(
    client: Client, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a chunk of more blocks than the upload's ring of receive buffers holds, and hashing and writing slowed
    # down so that receiving runs as far ahead of them as it may
    data = os.urandom(12 * 1024**2 + 5)
    file_id = tus_create(client, OWNER, length=len(data)).json()["id"]
    for owner, name in ((ResumableSha256, "update"), (Appender, "write")):
        monkeypatch.setattr(owner, name, _lagging(getattr(owner, name)))
    # when it is appended from a body read into those buffers
    file = upload_append(file=stored(file_id), offset=0, body=io.BytesIO(data), length=len(data))
    # then every block was hashed and written before its buffer was filled again
    assert file.sha256 == sha256(data)
    assert (media / file.storage_key).read_bytes() == data


def test_the_chunk_is_synced_while_its_last_blocks_are_still_being_hashed(
    client: Client, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given hashing that holds the chunk's last block until the storage has synced it (or 5 s have passed)
    data = os.urandom(3 * BLOCK + 5)
    file_id = tus_create(client, OWNER, length=len(data)).json()["id"]
    synced, events = _synced(monkeypatch), []
    _before_last_hashed(
        monkeypatch, lambda: events.append("sync came first" if synced.wait(5) else "sync waited for the hash")
    )
    # when the chunk is appended
    file = upload_append(file=stored(file_id), offset=0, body=io.BytesIO(data), length=len(data))
    # then the storage synced without waiting for the hash, and the commit still waited for both
    assert events == ["sync came first"]
    assert file.sha256 == sha256(data)
    assert (media / file.storage_key).read_bytes() == data


def test_a_hash_failing_after_the_chunk_was_synced_commits_nothing_and_the_chunk_can_be_sent_again(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given hashing that fails on the chunk's last block, once the storage has synced it
    data = os.urandom(2 * BLOCK + 5)
    file_id = tus_create(client, OWNER, length=len(data)).json()["id"]
    synced, update = _synced(monkeypatch), ResumableSha256.update

    def fail() -> None:
        if synced.wait(5):
            raise MemoryError("no memory for the hash")

    _before_last_hashed(monkeypatch, fail)
    # when the chunk is appended
    with pytest.raises(MemoryError):
        upload_append(file=stored(file_id), offset=0, body=io.BytesIO(data), length=len(data))
    # then nothing was committed and the upload is not held, so the same chunk is stored when sent again
    held = stored(file_id)
    assert (held.upload_offset, held.lease_token) == (0, "")
    monkeypatch.setattr(ResumableSha256, "update", update)
    file = upload_append(file=held, offset=0, body=io.BytesIO(data), length=len(data))
    assert file.upload_offset == len(data) and file.sha256 == sha256(data)


def _synced(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set each time the storage has synced a chunk."""
    synced, finish = threading.Event(), Appender.finish

    def sync(self: Appender, *, sync: bool) -> None:
        finish(self, sync=sync)
        synced.set()

    monkeypatch.setattr(Appender, "finish", sync)
    return synced


def _before_last_hashed(monkeypatch: pytest.MonkeyPatch, act: Callable[[], None]) -> None:
    """`act()` on the hashing thread before it hashes a chunk's last (short) block."""
    update = ResumableSha256.update

    def hash_block(self: ResumableSha256, block: Any) -> None:
        if len(block) < BLOCK:
            act()
        update(self, block)

    monkeypatch.setattr(ResumableSha256, "update", hash_block)


def _lagging(method: Callable[..., None]) -> Callable[..., None]:
    def lagging(self: object, block: Any) -> None:
        time.sleep(0.01)
        method(self, block)

    return lagging


def _chunk_metrics() -> dict[str, float]:
    counts = {
        phase: REGISTRY.get_sample_value("fip_upload_chunk_seconds_count", {"phase": phase}) or 0.0 for phase in PHASES
    }
    return {**counts, "bytes": REGISTRY.get_sample_value("fip_upload_chunk_bytes_total") or 0.0}


def test_a_stored_chunk_is_timed_by_phase_and_counted_in_bytes_and_a_refused_one_is_not(client: Client) -> None:
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]
    before = _chunk_metrics()

    stored_reply = tus_patch(client, OWNER, file_id, offset=0, data=DATA[:5000])
    refused_reply = tus_patch(client, OWNER, file_id, offset=0, data=DATA[:5000])  # the offset has moved on
    with pytest.raises(ApplicationError, match="ended after 1000 of the 4000 bytes"):  # leased, then broke off
        upload_append(file=stored(file_id), offset=5000, body=io.BytesIO(DATA[5000:6000]), length=4000)
    after = _chunk_metrics()

    assert (stored_reply.status_code, refused_reply.status_code) == (204, 409)
    assert {name: after[name] - before[name] for name in after} == {"lease": 1, "store": 1, "commit": 1, "bytes": 5000}


def test_a_patch_at_the_wrong_offset_is_409_with_the_current_offset(client: Client) -> None:
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]
    tus_patch(client, OWNER, file_id, offset=0, data=DATA[:100])

    reply = tus_patch(client, OWNER, file_id, offset=50, data=DATA[50:150])

    assert reply.status_code == 409
    assert reply.json()["error"] == {
        "code": "CONFLICT",
        "message": "Upload-Offset 50 does not match the upload's offset 100; ask for the offset with HEAD and "
        "resume from there.",
        "details": {"offset": 100},
    }


def test_a_patch_while_another_holds_the_upload_is_409(client: Client) -> None:
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]
    _lease_take(stored(file_id), offset=0, now=timezone.now())

    reply = tus_patch(client, OWNER, file_id, offset=0, data=DATA[:100])

    assert reply.status_code == 409
    assert reply.json()["error"]["message"] == (
        "Another PATCH is writing to this upload; wait for it, then resume from HEAD's offset."
    )
    assert stored(file_id).upload_offset == 0


def test_a_full_disk_is_507_and_the_chunk_can_be_sent_again_once_there_is_room(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an upload with a first chunk stored, then a disk that takes nothing more
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]
    tus_patch(client, OWNER, file_id, offset=0, data=DATA[:100])
    real_pwrite = os.pwrite

    def full(fd: int, data: Any, offset: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwrite", full)
    # when the next chunk is sent
    reply = tus_patch(client, OWNER, file_id, offset=100, data=DATA[100:300])
    # then it is refused as the server's storage problem, nothing of it counts, and the upload is not held
    _refused(
        reply,
        507,
        "INSUFFICIENT_STORAGE",
        "The server's storage is full; nothing of this chunk was kept. Send it again later from HEAD's offset.",
    )
    assert stored(file_id).upload_offset == 100
    monkeypatch.setattr(os, "pwrite", real_pwrite)
    again = tus_patch(client, OWNER, file_id, offset=100, data=DATA[100:300])
    assert again.status_code == 204 and again["Upload-Offset"] == "300"


class _Held(io.BytesIO):
    """A chunk's body on another thread that the test controls: silent (its connection died without a word) or
    trickling a byte every 20 ms (its client still sending), until the server stops it."""

    def __init__(self, data: bytes, *, trickle: bool) -> None:
        super().__init__(data)
        self.trickle = trickle
        self.reading, self.stopped = threading.Event(), threading.Event()
        self.reason = ""

    def readinto(self, buffer: Any) -> int:
        self.reading.set()
        if self.stopped.wait(0.02 if self.trickle else 10):
            raise OSError(self.reason)
        return super().readinto(buffer[:1]) if self.trickle else 0

    def interrupt(self, reason: str) -> None:
        self.reason = reason
        self.stopped.set()


class _Interruptible(io.BytesIO):
    """A body sent whole at once, which notes whether the server tried to stop it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reading = threading.Event()
        self.stops: list[str] = []

    def readinto(self, buffer: Any) -> int:
        self.reading.set()
        return super().readinto(buffer)

    def interrupt(self, reason: str) -> None:
        self.stops.append(reason)


@dataclass
class _Holding:
    file_id: int
    body: _Held | _Interruptible
    thread: threading.Thread
    outcome: list[str]  # what the chunk failed with, if it did


def _holding(client: Client, body: _Held | _Interruptible) -> _Holding:
    """An upload with a chunk appended on a thread of its own ("holder"), once it is reading its body."""
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]
    outcome: list[str] = []

    def append() -> None:
        try:
            upload_append(file=stored(file_id), offset=0, body=body, length=len(DATA))
        except ApplicationError as exc:
            outcome.append(exc.message)
        finally:
            connections.close_all()

    thread = threading.Thread(target=append, name="holder")
    thread.start()
    assert body.reading.wait(5)
    return _Holding(file_id, body, thread, outcome)


@pytest.mark.django_db(databases=["files"], transaction=True)  # two chunks on two threads
def test_a_chunk_resent_at_the_same_offset_takes_over_from_a_silent_one_holding_the_upload(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a chunk that holds the upload while its client has gone silent (for longer than 0.2 s, here)
    monkeypatch.setattr(uploads, "STALL_SECONDS", 0.2)
    silent = _holding(client, _Held(DATA, trickle=False))
    # when the client resumes and sends the chunk again at the same offset
    file = upload_append(file=stored(silent.file_id), offset=0, body=io.BytesIO(DATA), length=len(DATA))
    silent.thread.join(5)
    # then the silent chunk was stopped and kept nothing, and the new one was stored whole
    assert silent.outcome == [
        f"The request body broke off after 0 of the {len(DATA)} bytes announced ({uploads.SUPERSEDED}); nothing of "
        "it was kept. Resume from HEAD's offset."
    ]
    assert file.upload_offset == stored(silent.file_id).upload_offset == len(DATA)
    assert stored(silent.file_id).sha256 == sha256(DATA)


@pytest.mark.django_db(databases=["files"], transaction=True)  # two chunks on two threads
def test_a_chunk_at_the_same_offset_as_one_still_receiving_is_refused(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a chunk that holds the upload while its body still arrives, a byte every 20 ms
    monkeypatch.setattr(uploads, "STALL_SECONDS", 1.0)
    body = _Held(DATA, trickle=True)
    trickling = _holding(client, body)
    # when a second PATCH arrives at the same offset
    with pytest.raises(ConflictError) as refused:
        upload_append(file=stored(trickling.file_id), offset=0, body=io.BytesIO(DATA), length=len(DATA))
    body.interrupt("test over")
    trickling.thread.join(5)
    # then it is refused as a concurrent PATCH, and the first was left alone until the test stopped it
    assert (
        refused.value.message == "Another PATCH is writing to this upload; wait for it, then resume from HEAD's offset."
    )
    assert trickling.outcome and "test over" in trickling.outcome[0]
    assert stored(trickling.file_id).upload_offset == 0


@pytest.mark.django_db(databases=["files"], transaction=True)  # two chunks on two threads
def test_a_chunk_at_the_same_offset_as_one_committing_is_refused_and_the_first_is_kept(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a chunk whose whole body has arrived and whose commit takes a while (longer than a stall, 1 s)
    monkeypatch.setattr(uploads, "STALL_SECONDS", 1.0)
    commit = uploads._append_commit

    def slow_commit(*args: Any, **kwargs: Any) -> UploadedFile:
        if threading.current_thread().name == "holder":
            time.sleep(2.0)
        return commit(*args, **kwargs)

    monkeypatch.setattr(uploads, "_append_commit", slow_commit)
    committing = _holding(client, _Interruptible(DATA))
    # when a second PATCH arrives at the same offset
    with pytest.raises(ConflictError):
        upload_append(file=stored(committing.file_id), offset=0, body=io.BytesIO(DATA), length=len(DATA))
    committing.thread.join(5)
    # then it is refused, and the first chunk was not stopped: it committed
    assert isinstance(committing.body, _Interruptible) and committing.body.stops == []
    assert committing.outcome == []
    assert stored(committing.file_id).upload_offset == len(DATA)


def test_two_leases_on_one_offset_cannot_both_be_taken() -> None:
    file = UploadedFile.objects.using(DB).create(owner_id=OWNER, name="a.vcf.gz", upload_length=10)
    now = timezone.now()

    _lease_take(file, offset=0, now=now)

    with pytest.raises(ConflictError):
        _lease_take(file, offset=0, now=now)


def test_an_expired_lease_is_taken_over(client: Client) -> None:
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]
    UploadedFile.objects.using(DB).filter(pk=file_id).update(
        lease_token="stale", lease_until=timezone.now() - timedelta(seconds=1)
    )

    reply = tus_patch(client, OWNER, file_id, offset=0, data=DATA[:100])

    assert reply.status_code == 204


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Content_Type": "application/json"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ({"Upload_Offset": "-1"}, 400, "VALIDATION_ERROR"),
    ],
)
def test_patch_protocol_errors(client: Client, headers: dict[str, str], status: int, code: str) -> None:
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]
    sent = {**TUS, **auth(OWNER), "Upload-Offset": "0"}
    sent.update({name.replace("_", "-"): value for name, value in headers.items()})
    content_type = sent.pop("Content-Type", "application/offset+octet-stream")

    reply = client.generic("PATCH", f"/api/files/uploads/{file_id}/", b"abc", content_type=content_type, headers=sent)

    assert reply.status_code == status
    assert reply.json()["error"]["code"] == code


def test_a_chunk_past_the_declared_length_is_413(client: Client) -> None:
    file_id = tus_create(client, OWNER, length=10).json()["id"]

    reply = tus_patch(client, OWNER, file_id, offset=0, data=b"x" * 11)

    _refused(reply, 413, "PAYLOAD_TOO_LARGE", "This chunk would end at byte 11, past the upload's length of 10.")


def test_a_chunk_over_the_chunk_limit_is_413(client: Client, settings: Any) -> None:
    settings.FILES_TUS_MAX_CHUNK_BYTES = 1000
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]

    reply = tus_patch(client, OWNER, file_id, offset=0, data=DATA[:1001])

    _refused(reply, 413, "PAYLOAD_TOO_LARGE", "A chunk may be at most 1000 bytes; send smaller chunks.")


def test_x_http_method_override_serves_clients_without_patch(client: Client) -> None:
    file_id = tus_create(client, OWNER, length=100).json()["id"]
    headers = {**TUS, **auth(OWNER), "Upload-Offset": "0", "X-HTTP-Method-Override": "PATCH"}

    reply = client.post(
        f"/api/files/uploads/{file_id}/", DATA[:100], content_type="application/offset+octet-stream", headers=headers
    )

    assert reply.status_code == 204
    assert reply["Upload-Offset"] == "100"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "chr20.vcf",
            "'chr20.vcf' is not a bgzip-compressed VCF: upload files ending in .vcf.gz (compress with "
            "`bgzip file.vcf`, one chromosome per file).",
        ),
        (
            "chr20.bcf",
            "'chr20.bcf' is not a bgzip-compressed VCF: upload files ending in .vcf.gz (compress with "
            "`bgzip file.vcf`, one chromosome per file).",
        ),
    ],
)
def test_only_vcf_gz_names_are_admitted(client: Client, name: str, message: str) -> None:
    reply = tus_create(client, OWNER, length=100, name=name)

    _refused(reply, 400, "VALIDATION_ERROR", message, {"name": [message]})
    assert not UploadedFile.objects.using(DB).exists()


def test_a_file_over_the_size_limit_is_413_before_anything_is_stored(client: Client, settings: Any) -> None:
    settings.FILES_MAX_UPLOAD_BYTES = 1000

    reply = tus_create(client, OWNER, length=1001)

    _refused(reply, 413, "PAYLOAD_TOO_LARGE", "The file is 1001 bytes; at most 1000 bytes are accepted.")
    assert not UploadedFile.objects.using(DB).exists()


def test_a_file_over_the_quota_is_refused_before_any_byte_is_stored(
    client: Client, users: FakeUsers, media: Path
) -> None:
    users.quota[OWNER] = 5000
    upload(client, OWNER, DATA[:3000])

    reply = tus_create(client, OWNER, length=2001)

    assert reply.status_code == 413
    assert reply.json()["error"] == {
        "code": "QUOTA_EXCEEDED",
        "message": "This file (2001 bytes) does not fit in your storage quota: 3000 of 5000 bytes are used. "
        "Delete files you no longer need, or ask an administrator for a larger quota.",
        "details": {"quota_bytes": 5000, "used_bytes": 3000, "requested_bytes": 2001},
    }
    assert UploadedFile.objects.using(DB).filter(owner_id=OWNER).count() == 1
    assert len(list((media / "uploads").iterdir())) == 1
    assert StorageAccount.objects.using(DB).filter(owner_id=OWNER).count() == 1


def test_uploads_in_progress_count_against_the_quota_at_their_full_length(client: Client, users: FakeUsers) -> None:
    users.quota[OWNER] = 5000
    tus_create(client, OWNER, length=4000)

    reply = tus_create(client, OWNER, length=1001)

    assert reply.status_code == 413


def test_a_viewer_may_not_upload(client: Client, users: FakeUsers) -> None:
    users.roles[OWNER] = "viewer"

    reply = tus_create(client, OWNER, length=100)

    _refused(reply, 403, "AUTHORIZATION_ERROR", "Your role does not allow uploading files.")


def test_an_empty_file_is_refused(client: Client) -> None:
    reply = tus_create(client, OWNER, length=0)

    _refused(reply, 400, "VALIDATION_ERROR", "The file is empty.", {"size": ["The file is empty."]})


def test_a_traversal_name_is_stored_as_its_last_component_under_a_key_of_ours(client: Client, media: Path) -> None:
    file_id = upload(client, OWNER, DATA[:100], name="../../etc/passwd.vcf.gz")

    file = stored(file_id)
    assert file.name == "passwd.vcf.gz"
    assert ".." not in file.storage_key and "passwd" not in file.storage_key
    assert (media / file.storage_key).resolve().is_relative_to(media.resolve())
    assert [path.name for path in (media / "uploads").iterdir()] == [file.storage_key.split("/")[1]]


def test_termination_deletes_the_upload_and_its_bytes(client: Client, media: Path) -> None:
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]
    tus_patch(client, OWNER, file_id, offset=0, data=DATA[:100])
    key = stored(file_id).storage_key

    with files_commits():
        reply = client.delete(f"/api/files/uploads/{file_id}/", headers={**TUS, **auth(OWNER)})

    assert reply.status_code == 204
    assert reply["Tus-Resumable"] == "1.0.0"
    assert tus_head(client, OWNER, file_id).status_code == 404
    assert not (media / key).exists()


def test_another_users_upload_is_404_for_head_patch_and_delete(client: Client) -> None:
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]

    head = tus_head(client, OTHER, file_id)
    patch = tus_patch(client, OTHER, file_id, offset=0, data=b"abc")
    delete = client.delete(f"/api/files/uploads/{file_id}/", headers={**TUS, **auth(OTHER)})

    assert (head.status_code, patch.status_code, delete.status_code) == (404, 404, 404)
    assert patch.json()["error"] == error("NOT_FOUND", "No such file.")
    assert stored(file_id).upload_offset == 0


@pytest.mark.parametrize("role", ["researcher", "admin"], ids=["by the owner", "by an admin"])
def test_a_chunk_is_leased_by_one_statement_that_loads_its_upload(client: Client, role: str) -> None:
    # given an upload of the owner's, one chunk in
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]
    tus_patch(client, OWNER, file_id, offset=0, data=DATA[:1000])
    sender = OWNER if role == "researcher" else OTHER
    headers = {**TUS, **auth(sender, role=role), "Upload-Offset": "1000"}
    # when the next chunk is sent
    with CaptureQueriesContext(connections[DB]) as queries, files_commits():
        reply = client.generic(
            "PATCH", f"/api/files/uploads/{file_id}/", DATA[1000:5000], content_type=CHUNK_TYPE, headers=headers
        )
    # then the upload's row was read only by the update that leased it, and written once more by the commit
    table = UploadedFile._meta.db_table
    statements = [query["sql"] for query in queries.captured_queries if table in query["sql"]]
    assert (reply.status_code, reply["Upload-Offset"]) == (204, "5000")
    assert [sql.split()[0] for sql in statements] == ["UPDATE", "UPDATE"]
    assert "RETURNING" in statements[0] and "RETURNING" not in statements[1]
    assert (stored(file_id).upload_offset, stored(file_id).lease_token) == (5000, "")


def test_another_users_chunk_takes_no_lease_so_the_owners_goes_through(client: Client) -> None:
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]

    refused = tus_patch(client, OTHER, file_id, offset=0, data=DATA[:100])
    accepted = tus_patch(client, OWNER, file_id, offset=0, data=DATA[:100])

    _refused(refused, 404, "NOT_FOUND", "No such file.")
    assert (accepted.status_code, accepted["Upload-Offset"]) == (204, "100")


def test_an_upload_being_validated_takes_no_more_bytes_even_short_of_its_length(client: Client) -> None:
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]
    tus_patch(client, OWNER, file_id, offset=0, data=DATA[:100])
    UploadedFile.objects.using(DB).filter(pk=file_id).update(status=FileStatus.VALIDATING)

    reply = tus_patch(client, OWNER, file_id, offset=100, data=DATA[100:200])

    _refused(reply, 409, "CONFLICT", "This upload is complete; no more bytes are accepted.")
    assert (stored(file_id).upload_offset, stored(file_id).lease_token) == (100, "")


def test_offsets_and_ids_past_64_bits_are_answered_as_any_wrong_offset_or_id(client: Client) -> None:
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]

    offset = tus_patch(client, OWNER, file_id, offset=2**63, data=b"x")
    upload = tus_patch(client, OWNER, 10**20, offset=0, data=b"x")

    _refused(
        offset,
        409,
        "CONFLICT",
        f"Upload-Offset {2**63} does not match the upload's offset 0; ask for the offset with HEAD and resume from "
        "there.",
        {"offset": 0},
    )
    _refused(upload, 404, "NOT_FOUND", "No such file.")


def test_an_expired_upload_takes_no_more_bytes(client: Client) -> None:
    file_id = tus_create(client, OWNER, length=len(DATA)).json()["id"]
    UploadedFile.objects.using(DB).filter(pk=file_id).update(expires_at=timezone.now() - timedelta(seconds=1))

    reply = tus_patch(client, OWNER, file_id, offset=0, data=DATA[:100])

    _refused(reply, 404, "NOT_FOUND", "This upload has expired; start a new one.")


def test_a_completed_upload_takes_no_more_bytes(client: Client) -> None:
    file_id = upload(client, OWNER, DATA[:100])

    reply = tus_patch(client, OWNER, file_id, offset=100, data=b"x")

    assert reply.status_code == 409


def test_metadata_without_a_filename_is_refused(client: Client) -> None:
    headers = {**TUS, **auth(OWNER), "Upload-Length": "10", "Upload-Metadata": f"filetype {b64('application/gzip')}"}

    reply = client.post("/api/files/uploads/", headers=headers)

    message = "Name the file in Upload-Metadata (filename <base64 name>)."
    _refused(reply, 400, "VALIDATION_ERROR", message, {"filename": ["Required."]})
