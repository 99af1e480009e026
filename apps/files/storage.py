"""Where the bytes of files live: django-storages' FileSystemStorage (embedded) or S3Storage (FILES_STORAGE=s3).

Keys are made up here (`uploads/<uuid>`), never taken from a user. On top of each Django storage sits the one
thing Django's Storage API lacks, appending the chunks of a resumable upload:

- local: the chunk is written at the recorded offset of the file (anything past it, left by a PATCH that failed
  before its offset was committed, is truncated first) and synced before the offset moves;
- S3 has no append, so an upload is a multipart upload. Parts must be at least 5 MiB (except the last) and at most
  10,000, so chunks smaller than the part size wait in a "tail" object (`<key>.tail`, read back with If-Match on
  its recorded ETag) until enough has come to make a part. The state (upload id, parts, tail) lives in the file
  row, so any process can take the next chunk.

Everything streams in blocks of BLOCK bytes; nothing holds a whole chunk, let alone a file, in memory.

Each backend also has a cheap `probe` for the health report: the local root exists, is writable and has free space;
the S3 bucket answers a HeadBucket, asked with short timeouts and no retries so a dead endpoint cannot hang it.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import IO, Any, Protocol

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage

from apps.files.appender import Appender
from apps.files.behind import Behind, Block
from apps.files.public import StorageHealth

BLOCK = 1 << 20
S3_MIN_PART = 5 * 1024**2
S3_MAX_PARTS = 10_000
S3_PART_HEADROOM = 9_000  # parts planned per upload, so a client's odd chunk sizes cannot run past 10,000
TAIL_SUFFIX = ".tail"
# an S3 probe's timeouts, tried once: together under the health report's wait (MONITORING_HEALTH_TIMEOUT + 1 s)
PROBE_CONNECT_SECONDS, PROBE_READ_SECONDS = 1.5, 2.0


class Readable(Protocol):
    """What bytes to store are read from: a request body, a local file."""

    def read(self, size: int = ..., /) -> bytes: ...


class StorageConflictError(Exception):
    """Another writer changed the upload's stored state under us (a PATCH whose lease had run out)."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime | None


def key_new(prefix: str = "uploads") -> str:
    return f"{prefix}/{uuid.uuid4().hex}"


class StorageBackend(ABC):
    """The operations the files context needs, over one Django storage."""

    name: str
    storage: Storage

    @abstractmethod
    def upload_begin(self, key: str) -> dict[str, Any]:
        """Prepare `key` for appends; returns the state to keep with the upload."""

    @abstractmethod
    def upload_append(
        self, key: str, state: dict[str, Any], blocks: Iterable[Block], *, offset: int, length: int, final: bool
    ) -> dict[str, Any]:
        """Store `blocks` at `offset` of `key`; with `final`, this is the last chunk and the object must exist after.
        Returns the new state; nothing is considered stored until the caller commits it. Iterate `blocks` on the
        calling thread; a block may be a view of a reused buffer, valid until DEPTH + 1 more have been taken
        (apps/files/behind.py): keep it no longer than a `Behind` does, or copy it."""

    @abstractmethod
    def upload_abort(self, key: str, state: dict[str, Any]) -> None:
        """Throw away an unfinished upload and everything it left behind."""

    @abstractmethod
    def write(self, key: str, blocks: Iterable[bytes]) -> int:
        """Store a whole object at once (one-shot uploads); returns its size."""

    @abstractmethod
    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes [start, end) of `key`, in blocks."""

    @abstractmethod
    def signed_url(self, key: str, *, filename: str, ttl: int) -> str | None:
        """A URL that serves the object without our help for `ttl` seconds, or None if the storage has none."""

    @abstractmethod
    def objects(self, prefix: str) -> Iterator[StoredObject]:
        """Every object under `prefix/` (the retention task compares them with the database)."""

    @contextmanager
    def local_copy(self, key: str, filename: str) -> Iterator[Path]:
        """A path named `filename` in a private temporary directory holding the object's bytes (for tools that
        need a file, e.g. the VCF inspection); removed on exit, with whatever the tool wrote next to it."""
        workdir = Path(tempfile.mkdtemp(prefix="files-"))
        try:
            path = workdir / filename
            self._materialise(key, path)
            yield path
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _materialise(self, key: str, path: Path) -> None:
        with path.open("wb") as out:
            for block in self.read(key):
                out.write(block)

    def delete(self, key: str) -> None:
        self.storage.delete(key)

    @abstractmethod
    def probe(self) -> StorageHealth:
        """Whether the storage answers, cheaply and within seconds; one that does not is `ok=False` with why."""


class LocalBackend(StorageBackend):
    name = "local"

    def __init__(self, location: Path, *, fsync: bool) -> None:
        self.storage = FileSystemStorage(location=location)
        self.location = location
        self.fsync = fsync

    def path(self, key: str) -> Path:
        return Path(self.storage.path(key))

    def upload_begin(self, key: str) -> dict[str, Any]:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=False)
        return {}

    def upload_append(
        self, key: str, state: dict[str, Any], blocks: Iterable[Block], *, offset: int, length: int, final: bool
    ) -> dict[str, Any]:
        try:
            appender = Appender(self.path(key), offset)
        except FileNotFoundError as exc:  # deleted (or terminated) while this chunk was on its way
            raise StorageConflictError(f"{key} no longer exists") from exc
        with closing(appender):
            with Behind(appender.write, name="files-write") as writing:  # stored while the next block arrives
                for block in blocks:
                    writing.put(block)
            appender.finish(sync=self.fsync)  # the offset committed next must never run ahead of the disk
        return state

    def upload_abort(self, key: str, state: dict[str, Any]) -> None:
        self.path(key).unlink(missing_ok=True)

    def write(self, key: str, blocks: Iterable[bytes]) -> int:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        with path.open("xb") as out:
            for block in blocks:
                out.write(block)
                size += len(block)
            out.flush()
            if self.fsync:
                os.fdatasync(out.fileno())
        return size

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        with self.path(key).open("rb") as source:
            source.seek(start)
            left = math.inf if end is None else end - start
            while left > 0:
                block = source.read(int(min(BLOCK, left)))
                if not block:
                    return
                left -= len(block)
                yield block

    def signed_url(self, key: str, *, filename: str, ttl: int) -> str | None:
        return None  # served by our own signed-token view (apps/files/services/downloads.py)

    @contextmanager
    def local_copy(self, key: str, filename: str) -> Iterator[Path]:
        """A symbolic link: the bytes are already on this disk."""
        workdir = Path(tempfile.mkdtemp(prefix="files-"))
        try:
            link = workdir / filename
            link.symlink_to(self.path(key))
            yield link
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def objects(self, prefix: str) -> Iterator[StoredObject]:
        from django.utils import timezone

        root = self.location
        base = root / prefix
        if not base.is_dir():
            return
        for directory, _, names in os.walk(base):
            for name in names:
                path = Path(directory) / name
                stat = path.stat()
                modified = datetime.fromtimestamp(stat.st_mtime, tz=timezone.get_current_timezone())
                yield StoredObject(key=path.relative_to(root).as_posix(), size=stat.st_size, modified=modified)

    def probe(self) -> StorageHealth:
        """The root's free and total bytes; whether they are enough is the caller's judgement."""
        root, data = self.location, {"root": str(self.location)}
        if not root.is_dir():
            return StorageHealth(self.name, False, f"{root} does not exist", data)
        if not os.access(root, os.W_OK | os.X_OK):
            return StorageHealth(self.name, False, f"{root} is not writable", data)
        usage = shutil.disk_usage(root)
        return StorageHealth(self.name, True, str(root), {**data, "free_bytes": usage.free, "total_bytes": usage.total})


class S3Backend(StorageBackend):
    name = "s3"

    def __init__(self, options: dict[str, Any]) -> None:
        from storages.backends.s3 import S3Storage

        self.s3 = S3Storage(**options)
        self.storage = self.s3
        self.options = options
        self.bucket = options["bucket_name"]
        self.client = self.s3.connection.meta.client  # a boto3 client is thread-safe; the resource is not

    @staticmethod
    def part_size(length: int) -> int:
        """The smallest part that fits `length` into the planned number of parts, in whole MiB, at least 5 MiB."""
        wanted = max(S3_MIN_PART, math.ceil(length / S3_PART_HEADROOM))
        return math.ceil(wanted / 1024**2) * 1024**2

    def upload_begin(self, key: str) -> dict[str, Any]:
        return {"upload_id": "", "parts": [], "tail": 0, "tail_etag": ""}

    def upload_append(
        self, key: str, state: dict[str, Any], blocks: Iterable[Block], *, offset: int, length: int, final: bool
    ) -> dict[str, Any]:
        state = {**state, "parts": list(state["parts"])}
        with tempfile.TemporaryFile() as staged:
            pending = self._tail_into(key, state, staged) + self._copy(blocks, staged)
            if pending >= self.part_size(length) or final:
                if not state["upload_id"]:
                    created = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)
                    state["upload_id"] = created["UploadId"]
                number = len(state["parts"]) + 1
                if number > S3_MAX_PARTS:
                    raise StorageConflictError(f"upload {key} would need more than {S3_MAX_PARTS} parts")
                staged.seek(0)
                sent = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=state["upload_id"],
                    PartNumber=number,
                    Body=staged,
                    ContentLength=pending,
                )
                state["parts"].append({"n": number, "etag": sent["ETag"], "size": pending})
                if state["tail"]:
                    self.client.delete_object(Bucket=self.bucket, Key=key + TAIL_SUFFIX)
                state["tail"], state["tail_etag"] = 0, ""
            else:
                staged.seek(0)
                put = self.client.put_object(Bucket=self.bucket, Key=key + TAIL_SUFFIX, Body=staged)
                state["tail"], state["tail_etag"] = pending, put["ETag"]
        if final:
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=state["upload_id"],
                MultipartUpload={"Parts": [{"PartNumber": p["n"], "ETag": p["etag"]} for p in state["parts"]]},
            )
            state = {"upload_id": "", "parts": [], "tail": 0, "tail_etag": ""}
        return state

    def _tail_into(self, key: str, state: dict[str, Any], staged: IO[bytes]) -> int:
        if not state["tail"]:
            return 0
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key + TAIL_SUFFIX, IfMatch=state["tail_etag"])["Body"]
        except ClientError as exc:
            raise StorageConflictError(f"the pending bytes of {key} changed or vanished: {exc}") from exc
        copied = self._copy(body.iter_chunks(BLOCK), staged)
        if copied != state["tail"]:
            raise StorageConflictError(f"the pending bytes of {key} are {copied} bytes, not {state['tail']}")
        return copied

    @staticmethod
    def _copy(blocks: Iterable[Block], out: IO[bytes]) -> int:
        size = 0
        for block in blocks:
            out.write(block)
            size += len(block)
        return size

    def upload_abort(self, key: str, state: dict[str, Any]) -> None:
        if state.get("upload_id"):
            from botocore.exceptions import ClientError

            with suppress(ClientError):  # already completed or aborted; the objects below are what matters
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=state["upload_id"])
        self.client.delete_object(Bucket=self.bucket, Key=key + TAIL_SUFFIX)
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def write(self, key: str, blocks: Iterable[bytes]) -> int:
        with tempfile.TemporaryFile() as staged:
            size = self._copy(blocks, staged)
            staged.seek(0)
            self.client.upload_fileobj(staged, self.bucket, key)  # multipart above boto3's threshold
        return size

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if end is not None and end <= start:
            return
        byte_range = f"bytes={start}-{'' if end is None else end - 1}"
        body = self.client.get_object(Bucket=self.bucket, Key=key, Range=byte_range)["Body"]
        try:
            yield from body.iter_chunks(BLOCK)
        finally:
            body.close()

    def _materialise(self, key: str, path: Path) -> None:
        self.client.download_file(self.bucket, key, str(path))

    def signed_url(self, key: str, *, filename: str, ttl: int) -> str:
        from apps.files.naming import content_disposition

        parameters = {"ResponseContentDisposition": content_disposition(filename)}
        return str(self.s3.url(key, parameters=parameters, expire=ttl))

    def objects(self, prefix: str) -> Iterator[StoredObject]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{prefix}/")
        for page in pages:
            for entry in page.get("Contents", ()):
                yield StoredObject(key=entry["Key"], size=int(entry["Size"]), modified=entry.get("LastModified"))

    @cached_property
    def probe_client(self) -> Any:
        """A client of the probe's own: the storage's settings, but the PROBE_* timeouts and a single attempt
        (boto3's defaults, 60 s reads and retries with backoff, would hold the health report far past its limit)."""
        from botocore.config import Config
        from storages.backends.s3 import S3Storage

        quick = Config(
            connect_timeout=PROBE_CONNECT_SECONDS, read_timeout=PROBE_READ_SECONDS, retries={"total_max_attempts": 1}
        )
        probing = S3Storage(**self.options, client_config=self.s3.client_config.merge(quick))
        return probing.connection.meta.client

    def probe(self) -> StorageHealth:
        """HeadBucket: the cheapest call that proves the endpoint answers, the credentials work and the bucket
        exists. The detail names S3's error code (404 no such bucket, 403 not allowed) or the failure; a probe never
        raises, so the health report (and the files deployable's internal endpoint) always has an answer."""
        from botocore.exceptions import ClientError

        data: dict[str, Any] = {"bucket": self.bucket, "endpoint": settings.FILES_S3_ENDPOINT_URL or "AWS"}
        try:
            client = self.probe_client
            data["endpoint"] = client.meta.endpoint_url
            client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            reason = f"HeadBucket answered {error.get('Code', '?')} {error.get('Message', '')}".rstrip()
        except Exception as exc:  # connection failures (BotoCoreError), a client that cannot be built, anything
            reason = f"{type(exc).__name__}: {exc}"
        else:
            return StorageHealth(self.name, True, f"bucket {self.bucket} answers", data)
        return StorageHealth(self.name, False, f"bucket {self.bucket}: {reason}"[:500], data)

    def multipart_uploads(self, prefix: str) -> Iterator[tuple[str, str]]:
        """(key, upload id) of every unfinished multipart upload under `prefix/`."""
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=f"{prefix}/")
        for page in pages:
            for entry in page.get("Uploads", ()):
                yield entry["Key"], entry["UploadId"]


def s3_options() -> dict[str, Any]:
    """S3Storage's options from the FILES_S3_* settings; an empty endpoint means AWS itself."""
    return {
        "bucket_name": settings.FILES_S3_BUCKET,
        "endpoint_url": settings.FILES_S3_ENDPOINT_URL or None,
        "region_name": settings.FILES_S3_REGION or None,
        "access_key": settings.FILES_S3_ACCESS_KEY_ID or None,
        "secret_key": settings.FILES_S3_SECRET_ACCESS_KEY or None,
        "querystring_expire": settings.FILES_SIGNED_URL_SECONDS,
        "file_overwrite": False,
        "default_acl": None,
        "signature_version": "s3v4",
        "addressing_style": settings.FILES_S3_ADDRESSING_STYLE or None,
    }


@lru_cache(maxsize=8)
def _backend(kind: str, local: str, fsync: bool, s3: tuple[tuple[str, Any], ...]) -> StorageBackend:
    if kind == "s3":
        return S3Backend(dict(s3))
    return LocalBackend(Path(local), fsync=fsync)


def storage_backend() -> StorageBackend:
    """The configured backend, built once per configuration (tests switch settings)."""
    s3 = tuple(sorted(s3_options().items())) if settings.FILES_STORAGE == "s3" else ()
    return _backend(settings.FILES_STORAGE, str(settings.FILES_MEDIA_ROOT), settings.FILES_FSYNC, s3)
