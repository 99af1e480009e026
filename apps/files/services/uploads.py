"""Writes of uploads: admission (size, suffix, quota: all before any byte is stored), resumable appends (tus PATCH)
and one-shot uploads.

An append takes a lease on the upload with one atomic compare-and-set (`UPDATE … WHERE upload_offset = <the
client's Upload-Offset> AND no live lease`; for a tus PATCH that can go ahead, the same statement loads the upload:
`upload_patch`), streams the body to storage outside any transaction, then commits the new offset, the running
SHA-256 state and the storage state in one short transaction guarded by the same lease. So two PATCHes on one
upload never both write (the loser gets 409, unless the holder is a chunk of this process stalled waiting for its
body: see `_lease_take`), no database lock is held while bytes move, and a PATCH that dies half-way leaves the
committed offset, hash and storage state as they were: the client asks HEAD for the offset and sends that chunk
again (a partial chunk is not kept).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import mmap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import IO, Any, TypeVar

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import Q
from django.utils import timezone

from apps.files.behind import DEPTH, Behind, Block
from apps.files.errors import (
    ForbiddenError,
    LengthRequiredError,
    PayloadTooLargeError,
    QuotaExceededError,
    StorageFullError,
)
from apps.files.hashing import ResumableSha256, resumable_sha256_available
from apps.files.metrics import CHUNK_BYTES, CHUNK_SECONDS
from apps.files.models import DB, FileKind, FileStatus, StorageAccount, UploadedFile
from apps.files.naming import name_sanitise, suffix_of
from apps.files.selectors.files import Caller, file_get, stored_bytes
from apps.files.storage import BLOCK, Readable, StorageConflictError, key_new, storage_backend
from apps.kernel.connections import connection_release
from apps.kernel.errors import ApplicationError, ConflictError, NotFoundError, ServiceUnavailableError
from apps.users.public import UserNotFoundError, UsersUnavailableError, get_users_service

logger = logging.getLogger(__name__)
T = TypeVar("T")

VALIDATE_TASK = "files.validate"
BODY_HOLD_SECONDS = 1.0  # a chunk whose body takes longer gives back a database connection it would not keep
BIGINT_END = 2**63  # ids are 64-bit signed in every database, and SQLite cannot even bind a larger number
UPLOAD_CAPABILITY = "submit_jobs"  # uploads are inputs of jobs: whoever may not submit jobs may not upload


def _name_admit(raw_name: str) -> str:
    name = name_sanitise(raw_name)
    allowed = list(settings.FILES_ALLOWED_SUFFIXES)
    if suffix_of(name, allowed) is None:
        message = (
            f"{name!r} is not a bgzip-compressed VCF: upload files ending in {', '.join(allowed)} "
            "(compress with `bgzip file.vcf`, one chromosome per file)."
        )
        raise ApplicationError(message, details={"name": [message]})
    return name


def _length_admit(length: int, *, limit: int) -> None:
    if length <= 0:
        raise ApplicationError("The file is empty.", details={"size": ["The file is empty."]})
    if length > limit:
        raise PayloadTooLargeError(f"The file is {length} bytes; at most {limit} bytes are accepted.")


def _quota_of(owner_id: int) -> int:
    """The owner's storage quota, asked of the users context (in-process, or over HTTP when it is extracted)."""
    try:
        user = get_users_service().user_get(user_id=owner_id)
    except UserNotFoundError:
        raise ForbiddenError("Your account cannot store files.") from None
    except UsersUnavailableError:
        raise ServiceUnavailableError("Storage quotas cannot be checked right now; try again shortly.") from None
    if not user.is_active or not user.can(UPLOAD_CAPABILITY):
        raise ForbiddenError("Your role does not allow uploading files.")
    return user.quotas.storage_bytes


def _reserve(*, owner_id: int, length: int, quota: int) -> None:
    """Inside the creating transaction: the owner's row is locked, so concurrent admissions see each other."""
    account, _ = StorageAccount.objects.using(DB).get_or_create(owner_id=owner_id)
    StorageAccount.objects.using(DB).select_for_update().get(pk=account.pk)
    used = stored_bytes(owner_id=owner_id)
    if used + length > quota:
        raise QuotaExceededError(
            f"This file ({length} bytes) does not fit in your storage quota: {used} of {quota} bytes are used. "
            "Delete files you no longer need, or ask an administrator for a larger quota.",
            details={"quota_bytes": quota, "used_bytes": used, "requested_bytes": length},
        )


def _upload_expiry(now: datetime) -> datetime:
    return now + timedelta(hours=settings.FILES_UPLOAD_EXPIRY_HOURS)


def _input_expiry(now: datetime) -> datetime | None:
    days = settings.FILES_INPUT_RETENTION_DAYS
    return now + timedelta(days=days) if days else None


def validation_enqueue(file_id: int) -> None:
    """Queue the pre-flight checks of a file now. The task is found by name (apps/files/tasks.py registers it when
    the app is ready), so services never import the tasks that call them."""
    current_app.tasks[VALIDATE_TASK].apply_async(args=(file_id,), queue=settings.FILES_CELERY_QUEUE)


def validation_schedule(file_id: int) -> None:
    """Queue the pre-flight checks once the current transaction on `files` commits. A broker outage is logged,
    not raised: the file stays `validating` and the retention task queues it again."""
    transaction.on_commit(lambda: validation_enqueue(file_id), using=DB, robust=True)


def upload_create(
    *, owner_id: int, length: int, name: str, metadata: dict[str, str] | None = None, job_id: str | None = None
) -> UploadedFile:
    """A new resumable upload (tus creation), admitted on its announced length before any byte arrives."""
    name = _name_admit(name)
    _length_admit(length, limit=settings.FILES_MAX_UPLOAD_BYTES)
    quota = _quota_of(owner_id)
    now = timezone.now()
    backend = storage_backend()
    with transaction.atomic(using=DB):
        _reserve(owner_id=owner_id, length=length, quota=quota)
        file = UploadedFile(
            owner_id=owner_id,
            kind=FileKind.INPUT,
            status=FileStatus.UPLOADING,
            name=name,
            storage_key=key_new("uploads"),
            upload_length=length,
            metadata=metadata or {},
            job_id=job_id or "",
            expires_at=_upload_expiry(now),
            sha256_state=ResumableSha256().state() if resumable_sha256_available() else None,
        )
        file.multipart = backend.upload_begin(file.storage_key)
        file.save(using=DB)
    return file


def _upload_check(file: UploadedFile, *, offset: int, now: datetime) -> None:
    if file.status != FileStatus.UPLOADING:
        raise ConflictError("This upload is complete; no more bytes are accepted.")
    if file.expires_at is not None and file.expires_at <= now:
        raise NotFoundError("This upload has expired; start a new one.")
    if offset != file.upload_offset:
        raise ConflictError(
            f"Upload-Offset {offset} does not match the upload's offset {file.upload_offset}; "
            "ask for the offset with HEAD and resume from there.",
            details={"offset": file.upload_offset},
        )


SUPERSEDED = "a newer PATCH for this upload took over"
STALL_SECONDS = 2.0  # a chunk waiting this long for bytes of its body may be taken over by a newer PATCH
SUPERSEDE_SECONDS = 2.0  # how long a PATCH waits for the chunk it stopped to give the upload back
_holders: dict[int, _Body] = {}  # upload -> the body of the chunk of this process holding it, if it can be stopped
_holders_lock = threading.Lock()


def _lease_take(file: UploadedFile, *, offset: int, now: datetime) -> str:
    """The upload's lease at `offset`. A chunk of this process may hold it while its client has given up on it (the
    connection dropped without a word, and the server would otherwise wait out FILES_TUS_BODY_IDLE_SECONDS before
    the chunk fails). When that chunk has waited STALL_SECONDS for bytes of its body, a PATCH at the same offset
    stops it and takes over once it has let go. A chunk whose body is arriving, or that is storing or committing,
    is a concurrent PATCH: the newcomer gets 409."""
    token = uuid.uuid4().hex
    asked, deadline = False, 0.0
    while not _lease_try(file, token, offset=offset, now=now):
        current = UploadedFile.objects.using(DB).filter(pk=file.pk).first()
        if current is None:
            raise NotFoundError("This upload no longer exists.")
        _upload_check(current, offset=offset, now=now)
        if not asked:  # once: stop a stalled holder here, then look again (it may also have ended meanwhile)
            asked = True
            connection_release(DB)  # not held idle while this waits
            deadline = time.monotonic() + (SUPERSEDE_SECONDS if _holder_stop_if_stalled(file.pk) else 0.0)
        elif time.monotonic() >= deadline:
            raise ConflictError("Another PATCH is writing to this upload; wait for it, then resume from HEAD's offset.")
        else:
            time.sleep(0.02)
        now = timezone.now()
    return token


def _lease_try(file: UploadedFile, token: str, *, offset: int, now: datetime) -> bool:
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    return bool(
        UploadedFile.objects.using(DB)
        .filter(free, pk=file.pk, status=FileStatus.UPLOADING, upload_offset=offset)
        .update(lease_token=token, lease_until=now + timedelta(seconds=settings.FILES_UPLOAD_LEASE_SECONDS))
    )


def _holder_stop_if_stalled(file_id: int) -> bool:
    """Stop the chunk of this process holding the upload if it waits for its body and no bytes come: it has waited
    STALL_SECONDS, or reaches that while this watches (a little longer at most). Whether it was stopped."""
    with _holders_lock:
        holder = _holders.get(file_id)
    if holder is None:
        return False
    reads, deadline = holder.reads, time.monotonic() + STALL_SECONDS + 0.5
    while (since := holder.waiting_since) is None or time.monotonic() - since < STALL_SECONDS:
        if holder.reads != reads or time.monotonic() >= deadline or _holders.get(file_id) is not holder:
            return False  # bytes arrive, it is storing or committing (not stalled), or it has ended
        time.sleep(0.02)
    with _holders_lock:
        if _holders.get(file_id) is not holder:
            return False  # it ended meanwhile
        del _holders[file_id]
    logger.info("upload %s: a PATCH at the same offset takes over from a chunk whose body stalled", file_id)
    if holder.interrupt is not None:  # always: only bodies that can be stopped are registered
        holder.interrupt(SUPERSEDED)
    return True


def _lease_release(file_id: int, token: str) -> None:
    """Best effort, on the way out of a failed chunk: if the database cannot be reached the lease runs out on its own
    (FILES_UPLOAD_LEASE_SECONDS), and the chunk's own error is the one to report."""
    try:
        UploadedFile.objects.using(DB).filter(pk=file_id, lease_token=token).update(lease_token="", lease_until=None)
    except DatabaseError:
        logger.exception("upload %s: its lease could not be given back; it expires on its own", file_id)


RING = DEPTH + 2  # a block's buffer is refilled only once the hashing and writing threads are past it
_rings = threading.local()


def _ring() -> list[memoryview]:
    """This thread's receive buffers, made once: mapping fresh ones for every chunk cost more in page faults than
    the copies they saved. Block k's buffer is filled again for block k + RING, by when every `Behind` (at most
    DEPTH + 1 blocks behind, apps/files/behind.py) is past block k."""
    ring: list[memoryview] | None = getattr(_rings, "buffers", None)
    if ring is None:
        ring = _rings.buffers = [memoryview(mmap.mmap(-1, BLOCK)) for _ in range(RING)]
    return ring


class _Body:
    """The request body in blocks, hashed on the way (inside `hashed()`); refuses to end before the announced length.
    Once reading has taken longer than BODY_HOLD_SECONDS it gives back the files connection if the request's end
    would close it anyway (the commit opens another)."""

    def __init__(self, stream: Readable, length: int, hasher: ResumableSha256 | None) -> None:
        self.stream, self.length, self.hasher = stream, length, hasher
        self._release_at: float | None = None
        self._wait: Callable[[float], bool] | None = getattr(stream, "wait_readable", None)
        self.interrupt: Callable[[str], None] | None = getattr(stream, "interrupt", None)  # from any thread
        self.waiting_since: float | None = None  # when the read (or wait for bytes) under way began
        self.reads = 0  # reads done
        self._hashing: Behind | None = None

    @contextmanager
    def hashed(self) -> Iterator[None]:
        """Around the storage's taking of the blocks: each block is hashed on a thread of its own, beside receiving
        and writing; leaving waits for the hash (on an error, drops what is queued). The body's blocks end as soon
        as the last is received, so the storage's sync (an ext4 journal commit on every append) runs while the hash
        catches up, not after it. A hash that fails after the storage has returned still stops the commit."""
        if self.hasher is None:
            yield
            return
        with Behind(self.hasher.update, name="files-sha256") as hashing:
            self._hashing = hashing
            try:
                yield
            finally:
                self._hashing = None

    def __iter__(self) -> Iterator[Block]:
        if self.hasher is not None and self._hashing is None:
            raise RuntimeError("a hashed body's blocks are taken inside hashed()")
        for block in self._blocks():
            if self._hashing is not None:
                self._hashing.put(block)
            yield block

    def _blocks(self) -> Iterator[Block]:
        left = self.length
        self._release_at = time.monotonic() + BODY_HOLD_SECONDS
        readinto: Callable[[memoryview], int] | None = getattr(self.stream, "readinto", None)
        ring, turn = _ring() if readinto is not None else [], 0
        while left > 0:
            try:
                if readinto is None:
                    block: Block = self._waited(self.stream.read, min(BLOCK, left))
                else:  # received straight into a reused buffer, which hashing and the write read in place
                    block = self._filled(readinto, ring[turn % RING][: min(BLOCK, left)])
                    turn += 1
            except OSError as exc:  # the client went away, or its body stalled (apps/files/api/asgi.py)
                raise ApplicationError(
                    f"The request body broke off after {self.length - left} of the {self.length} bytes announced "
                    f"({exc}); nothing of it was kept. Resume from HEAD's offset."
                ) from exc
            if not block:
                raise ApplicationError(
                    f"The request body ended after {self.length - left} of the {self.length} bytes announced; "
                    "nothing of it was kept. Resume from HEAD's offset."
                )
            left -= len(block)
            yield block

    def _filled(self, readinto: Callable[[memoryview], int], buffer: memoryview) -> memoryview:
        """`buffer` filled from the body, or as much of it as the body had before it ended."""
        taken = 0
        while taken < len(buffer):
            if not (got := self._waited(readinto, buffer[taken:])):
                break
            taken += got
        return buffer[:taken]

    def _waited(self, read: Callable[[Any], T], arg: Any) -> T:
        """`read(arg)` (and the wait for bytes before it), noted as waiting for the body while it runs."""
        self.waiting_since = time.monotonic()
        try:
            self._release_if_due()
            got = read(arg)
        finally:
            self.waiting_since = None
        self.reads += 1
        return got

    def _release_if_due(self) -> None:
        """Checked before every read, on the request's thread (backends iterate the blocks where they are called).
        Where the body can say whether bytes are coming (config/socket_body.py), a stalled client does not hold the
        connection into its read, which would wait up to the idle timeout: the wait for bytes ends when the hold
        does."""
        if self._release_at is None:
            return
        left = self._release_at - time.monotonic()
        if left > 0 and (self._wait is None or self._wait(left)):
            return
        connection_release(DB)  # a slow client: not worth an idle database connection
        self._release_at = None


def upload_append(*, file: UploadedFile, offset: int, body: Readable, length: int | None) -> UploadedFile:
    """Append one PATCH body at `offset` (the client's Upload-Offset); returns the upload as committed."""
    if length is None:
        raise LengthRequiredError("Send the chunk's Content-Length.")
    now = timezone.now()
    _upload_check(file, offset=offset, now=now)
    if length > settings.FILES_TUS_MAX_CHUNK_BYTES:
        raise PayloadTooLargeError(
            f"A chunk may be at most {settings.FILES_TUS_MAX_CHUNK_BYTES} bytes; send smaller chunks."
        )
    if offset + length > file.upload_length:
        raise PayloadTooLargeError(
            f"This chunk would end at byte {offset + length}, past the upload's length of {file.upload_length}."
        )
    if length == 0:
        return file
    started = time.perf_counter()
    token = _lease_take(file, offset=offset, now=now)
    return _append_leased(file, token, offset=offset, body=body, length=length, started=started)


def upload_patch(*, caller: Caller, file_id: int, offset: int, body: Readable, length: int | None) -> UploadedFile:
    """The tus PATCH of `caller` on upload `file_id`: `upload_append` on the upload as `caller` sees it. A chunk that
    can go ahead is leased and its upload loaded by one statement (`_lease_and_load`) instead of a query and an
    update compiled by the ORM: about 0.8 ms less on every chunk. Any other chunk takes the ORM's way, which finds
    out why it cannot go ahead (404, 409, 413, an expired upload, a stalled holder to take over)."""
    if (
        length is not None
        and 0 < length <= settings.FILES_TUS_MAX_CHUNK_BYTES
        and offset + length <= settings.FILES_MAX_UPLOAD_BYTES
        and 0 < file_id < BIGINT_END
    ):
        started = time.perf_counter()
        leased = _lease_and_load(caller, file_id, offset=offset, length=length)
        if leased is not None:
            file, token = leased
            return _append_leased(file, token, offset=offset, body=body, length=length, started=started)
    file = file_get(caller=caller, file_id=file_id, with_result=False)
    return upload_append(file=file, offset=offset, body=body, length=length)


def _lease_and_load(caller: Caller, file_id: int, *, offset: int, length: int) -> tuple[UploadedFile, str] | None:
    """The lease on upload `file_id` at `offset` for a chunk of `length` bytes, taken and the row loaded by one
    `UPDATE … RETURNING`, when `caller` sees the upload (`file_get`'s rule: their own, or any for an admin) and
    `_upload_check`, the length check and `_lease_try` would all let the chunk through; None otherwise, and where
    the database cannot return rows from an update. A chunk it does not lease changes nothing, but on SQLite it
    has waited for the write lock, as every lease does."""
    connection = connections[DB]
    if connection.vendor not in {"postgresql", "sqlite"} or not connection.features.can_return_columns_from_insert:
        return None  # SQLite before 3.35 has no RETURNING (on updates or inserts)
    quote, adapt = connection.ops.quote_name, connection.ops.adapt_datetimefield_value
    now, token = timezone.now(), uuid.uuid4().hex
    lease_until = now + timedelta(seconds=settings.FILES_UPLOAD_LEASE_SECONDS)
    meta = UploadedFile._meta
    columns = {field.name: quote(field.column) for field in meta.concrete_fields}
    conditions = [
        f"{columns['id']} = %s AND {columns['status']} = %s",
        f"{columns['upload_offset']} = %s AND {columns['upload_length']} >= %s",
        f"({columns['expires_at']} IS NULL OR {columns['expires_at']} > %s)",
        f"({columns['lease_until']} IS NULL OR {columns['lease_until']} < %s)",
    ]
    params: list[Any] = [token, adapt(lease_until), file_id, FileStatus.UPLOADING, offset, offset + length]
    params += [adapt(now), adapt(now)]
    if not caller.is_admin:
        conditions.append(f"{columns['owner_id']} = %s")
        params.append(caller.user_id)
    # identifiers from the model, quoted by the backend; every value is a parameter
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {columns['lease_token']} = %s, {columns['lease_until']} = %s "  # noqa: S608
        f"WHERE {' AND '.join(conditions)} RETURNING {', '.join(columns.values())}"
    )
    rows = list(UploadedFile.objects.using(DB).raw(sql, params))  # read to the end: outside `atomic`, SQLite commits
    return (rows[0], token) if rows else None


def _append_leased(
    file: UploadedFile, token: str, *, offset: int, body: Readable, length: int, started: float
) -> UploadedFile:
    """Store the chunk of the upload leased with `token` (since `started`) and commit it; the lease is given back on
    any failure."""
    leased = time.perf_counter()
    chunk = None
    try:  # the row is as loaded: it only changes together with the offset, which the lease was taken at
        hasher = ResumableSha256.from_state(bytes(file.sha256_state)) if file.sha256_state is not None else None
        chunk = _Body(body, length, hasher)
        if chunk.interrupt is not None:
            with _holders_lock:
                _holders[file.pk] = chunk
        final = offset + length == file.upload_length
        with chunk.hashed():
            state = storage_backend().upload_append(
                file.storage_key,
                file.multipart,
                chunk,
                offset=offset,
                length=file.upload_length,
                final=final,
            )
        stored_at = time.perf_counter()
        file = _append_commit(file, token=token, new_offset=offset + length, state=state, hasher=hasher, final=final)
    except StorageConflictError as exc:
        logger.warning("upload %s: %s", file.pk, exc)
        _lease_release(file.pk, token)
        raise ConflictError("This upload changed while the chunk was being stored; resume from HEAD's offset.") from exc
    except OSError as exc:
        _lease_release(file.pk, token)
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        logger.error("upload %s: the storage is full: %s", file.pk, exc)
        raise StorageFullError(
            "The server's storage is full; nothing of this chunk was kept. Send it again later from HEAD's offset."
        ) from exc
    except BaseException:
        _lease_release(file.pk, token)
        raise
    finally:
        with _holders_lock:
            if chunk is not None and _holders.get(file.pk) is chunk:
                del _holders[file.pk]
    marks = (("lease", started, leased), ("store", leased, stored_at), ("commit", stored_at, time.perf_counter()))
    for phase, begun, ended in marks:
        CHUNK_SECONDS.labels(phase).observe(ended - begun)
    CHUNK_BYTES.inc(length)
    return file


def _append_commit(
    file: UploadedFile,
    *,
    token: str,
    new_offset: int,
    state: dict[str, Any],
    hasher: ResumableSha256 | None,
    final: bool,
) -> UploadedFile:
    now = timezone.now()
    changes: dict[str, Any] = {
        "upload_offset": new_offset,
        "size": new_offset,
        "multipart": state,
        "sha256_state": hasher.state() if hasher is not None else None,
        "lease_token": "",
        "lease_until": None,
        "updated_at": now,
        "expires_at": _upload_expiry(now),
    }
    if final:
        changes |= {
            "status": FileStatus.VALIDATING,
            "sha256": hasher.hexdigest() if hasher is not None else "",
            "sha256_state": None,
            "completed_at": now,
            "expires_at": _input_expiry(now),
        }
    with transaction.atomic(using=DB):
        if not UploadedFile.objects.using(DB).filter(pk=file.pk, lease_token=token).update(**changes):
            raise ConflictError(
                "This upload was taken over while the chunk was being stored; resume from HEAD's offset."
            )
        if final:
            validation_schedule(file.pk)
    for name, value in changes.items():
        setattr(file, name, value)
    return file


def file_upload_oneshot(
    *, owner_id: int, name: str, content: IO[bytes], size: int, job_id: str | None = None
) -> UploadedFile:
    """A small file in one multipart request: admitted like an upload, stored whole, then validated."""
    name = _name_admit(name)
    _length_admit(size, limit=settings.FILES_ONESHOT_MAX_BYTES)
    quota = _quota_of(owner_id)
    backend = storage_backend()
    key = key_new("uploads")
    with transaction.atomic(using=DB):
        _reserve(owner_id=owner_id, length=size, quota=quota)
        file = UploadedFile.objects.using(DB).create(
            owner_id=owner_id,
            kind=FileKind.INPUT,
            status=FileStatus.UPLOADING,
            name=name,
            storage_key=key,
            upload_length=size,
            job_id=job_id or "",
            expires_at=_upload_expiry(timezone.now()),
        )
    digest = hashlib.sha256()

    def blocks() -> Iterator[bytes]:
        while block := content.read(BLOCK):
            digest.update(block)
            yield block

    try:
        written = backend.write(key, blocks())
    except BaseException:
        UploadedFile.objects.using(DB).filter(pk=file.pk).delete()
        backend.upload_abort(key, {})
        raise
    now = timezone.now()
    with transaction.atomic(using=DB):
        UploadedFile.objects.using(DB).filter(pk=file.pk).update(
            status=FileStatus.VALIDATING,
            upload_offset=written,
            size=written,
            sha256=digest.hexdigest(),
            completed_at=now,
            updated_at=now,
            expires_at=_input_expiry(now),
        )
        validation_schedule(file.pk)
    return UploadedFile.objects.using(DB).get(pk=file.pk)
