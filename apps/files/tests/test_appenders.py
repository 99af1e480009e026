"""Appending tus chunks to local files (apps/files/appender.py) and the write-behind thread (apps/files/behind.py).

The appender runs on the test's temporary directory (the machine's disk) and must leave exactly the bytes sent."""

from __future__ import annotations

import errno
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from apps.files import appender as appending
from apps.files.appender import Appender
from apps.files.behind import Behind

# sizes that start and end inside pages, span several of them and end exactly on one
ODD_CHUNKS = (1, 4095, 4097, 1024**2 + 3, 2 * 1024**2, 100, 4096)


def _append(path: Path, offset: int, data: bytes, pieces: int = 3) -> None:
    appender = Appender(path, offset)
    try:
        step = max(1, len(data) // pieces)
        for start in range(0, len(data), step):
            appender.write(data[start : start + step])
        appender.finish(sync=True)
    finally:
        appender.close()


def test_chunks_of_any_size_leave_exactly_the_bytes_sent(tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.touch()
    sent = b""

    for size in ODD_CHUNKS:
        chunk = os.urandom(size)
        _append(path, len(sent), chunk)
        sent += chunk

        assert path.stat().st_size == len(sent)
    assert path.read_bytes() == sent


def test_each_blocks_write_back_starts_as_it_is_written_and_the_chunk_leaves_the_cache_once_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a record of the appender's calls to the kernel
    path = tmp_path / "upload"
    path.write_bytes(b"c" * 100)
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        appending, "_sync_file_range", lambda fd, start, size, flags: calls.append(("writeback", start, size, flags))
    )
    real_sync = os.fdatasync

    def sync(fd: int) -> None:
        calls.append(("sync",))
        real_sync(fd)

    monkeypatch.setattr(os, "fdatasync", sync)
    monkeypatch.setattr(
        os, "posix_fadvise", lambda fd, start, size, advice: calls.append(("drop", start, size, advice))
    )
    # when a chunk of two blocks is appended at offset 100 and synced
    appender = Appender(path, 100)
    try:
        appender.write(b"a" * 4096)
        appender.write(memoryview(b"b" * 10))
        appender.finish(sync=True)
    finally:
        appender.close()
    # then each block's write-back started with its own range, and the chunk's pages were dropped only after the sync
    assert calls == [
        ("writeback", 100, 4096, appending.SYNC_FILE_RANGE_WRITE),
        ("writeback", 4196, 10, appending.SYNC_FILE_RANGE_WRITE),
        ("sync",),
        ("drop", 100, 4106, os.POSIX_FADV_DONTNEED),
    ]
    assert path.read_bytes() == b"c" * 100 + b"a" * 4096 + b"b" * 10


def test_an_unsynced_chunk_is_not_dropped_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a storage configured without fsync: its pages are still dirty after finish()
    path = tmp_path / "upload"
    path.touch()
    dropped: list[int] = []
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, start, size, advice: dropped.append(size))
    # when a chunk is appended without a sync
    appender = Appender(path, 0)
    appender.write(b"x" * 50)
    appender.finish(sync=False)
    appender.close()
    # then the bytes are there and nothing was dropped (the kernel would have to write dirty pages back at once)
    assert path.read_bytes() == b"x" * 50
    assert dropped == []


@pytest.mark.parametrize(
    "fails",
    [
        ("pwrite", lambda fd, data, offset: len(data) // 2),  # a short write: the kernel's sign of a full disk
        ("pwrite", lambda fd, data, offset: _raise(errno.ENOSPC)),
        ("fdatasync", lambda fd: _raise(errno.EDQUOT)),  # write-back that found no room (a quota, NFS, thin disks)
    ],
    ids=["short write", "write refused", "sync refused"],
)
def test_a_full_disk_is_reported_with_the_files_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: tuple[str, Callable[..., int]]
) -> None:
    # given a disk that takes no more, found out while writing or while syncing
    path = tmp_path / "upload"
    path.touch()
    monkeypatch.setattr(os, *fails)
    appender = Appender(path, 0)
    # when a block is appended and synced
    try:
        with pytest.raises(OSError) as full:
            appender.write(bytes(4096))
            appender.finish(sync=True)
    finally:
        appender.close()
    # then it is the disk's error, naming the file
    assert full.value.errno in (errno.ENOSPC, errno.EDQUOT)
    assert full.value.filename == str(path)


def _raise(number: int) -> int:
    raise OSError(number, os.strerror(number))


@pytest.mark.skipif(sys.platform != "linux", reason="sync_file_range is a Linux call")
def test_the_write_back_hint_is_the_kernels_own_call() -> None:
    # given the libc binding the appender found, and a file with a dirty page
    start = appending._writeback_starter()
    assert start is not None
    fd, name = tempfile.mkstemp()
    try:
        os.write(fd, b"x" * 4096)
        # when write-back is asked for its range, and with flags the kernel does not know
        started, refused = start(fd, 0, 4096, appending.SYNC_FILE_RANGE_WRITE), start(fd, 0, 4096, 1 << 8)
    finally:
        os.close(fd)
        os.unlink(name)
    # then the kernel took the first call, and the second one reached it too (and was refused by it)
    assert (started, refused) == (0, -1)


def test_without_the_hints_a_chunk_is_stored_all_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a system without sync_file_range nor posix_fadvise (macOS has neither)
    monkeypatch.setattr(appending, "_sync_file_range", None)
    monkeypatch.delattr(os, "posix_fadvise", raising=False)
    path = tmp_path / "upload"
    path.touch()
    # when chunks are appended
    _append(path, 0, b"a" * 5000)
    _append(path, 5000, b"b" * 10)
    # then every byte is there
    assert path.read_bytes() == b"a" * 5000 + b"b" * 10


def test_a_dropped_cache_hint_that_fails_does_not_fail_a_synced_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a kernel that refuses to drop the chunk's pages
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, start, size, advice: _raise(errno.EINVAL))
    path = tmp_path / "upload"
    path.touch()
    # when a chunk is appended and synced
    _append(path, 0, b"z" * 300)
    # then it is stored, and finish() did not raise
    assert path.read_bytes() == b"z" * 300


def test_an_upload_file_deleted_meanwhile_is_reported_as_gone(tmp_path: Path) -> None:
    # given no file where the upload's was (terminated while this chunk was on its way)
    # when an appender is opened on it, then it says the file is gone
    with pytest.raises(FileNotFoundError):
        Appender(tmp_path / "deleted meanwhile", 0)


def test_bytes_past_the_offset_left_by_a_failed_chunk_are_cut_first(tmp_path: Path) -> None:
    path = tmp_path / "upload"
    committed, stale = os.urandom(5_000), os.urandom(7_000)
    path.write_bytes(committed + stale)

    chunk = os.urandom(300)
    _append(path, len(committed), chunk)

    assert path.read_bytes() == committed + chunk


def test_a_writer_finishing_late_never_pads_or_cuts_what_a_newer_writer_committed(tmp_path: Path) -> None:
    """A PATCH whose lease ran out may still finish after a newer PATCH at the same offset committed more: it
    writes the same bytes of the same upload, and must write nothing else (no zero padding, no truncation)."""
    path = tmp_path / "upload"
    committed, data = os.urandom(4096 + 100), os.urandom(3 * 4096 + 7)
    path.write_bytes(committed)
    stale = Appender(path, len(committed))
    stale.write(data[:50])

    _append(path, len(committed), data)
    stale.finish(sync=True)
    stale.close()

    assert path.read_bytes() == committed + data


def test_an_empty_finish_keeps_the_file_at_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.write_bytes(os.urandom(4096 + 10))

    _append(path, 4096 + 3, b"")

    assert path.stat().st_size == 4096 + 3


def test_behind_consumes_every_block_in_order_on_another_thread() -> None:
    seen: list[tuple[bytes, int]] = []

    with Behind(lambda block: seen.append((block, threading.get_ident())), name="test") as behind:
        for index in range(50):
            behind.put(bytes([index]))

    assert [block for block, _ in seen] == [bytes([index]) for index in range(50)]
    assert {thread for _, thread in seen} != {threading.get_ident()}


def test_behind_raises_the_consumers_failure_and_stops_consuming() -> None:
    consumed: list[bytes] = []

    def consume(block: bytes) -> None:
        if block == b"bad":
            raise OSError(28, "No space left on device")
        consumed.append(block)

    with pytest.raises(OSError, match="No space left"), Behind(consume, name="test", depth=1) as behind:
        for block in (b"a", b"bad", *[b"late"] * 20):
            behind.put(block)

    assert consumed == [b"a"]


def test_behind_lets_the_producers_error_through_and_drops_what_waits() -> None:
    busy, release = threading.Event(), threading.Event()
    consumed: list[bytes] = []

    def consume(block: bytes) -> None:
        busy.set()
        release.wait(5)
        consumed.append(block)

    threading.Timer(0.2, release.set).start()  # the consumer is let go only once the error is on its way
    with pytest.raises(ValueError, match="body broke off"), Behind(consume, name="test", depth=3) as behind:
        behind.put(b"1")
        busy.wait(5)
        for block in (b"2", b"3"):
            behind.put(block)
        raise ValueError("body broke off")

    assert consumed == [b"1"]  # the block being consumed when the error came; the waiting ones are dropped


def test_behind_holds_the_producer_once_depth_blocks_wait() -> None:
    release = threading.Event()
    behind = Behind(lambda block: release.wait(5), name="test", depth=2)
    with behind:
        behind.put(b"taken by the consumer")
        behind.put(b"waiting 1")
        behind.put(b"waiting 2")
        extra = threading.Thread(target=behind.put, args=(b"one too many",))
        extra.start()
        extra.join(0.3)

        assert extra.is_alive()
        release.set()
        extra.join(5)
        assert not extra.is_alive()


def test_behind_reuses_its_helper_thread_and_a_nested_one_gets_another() -> None:
    def helper_of(name: str) -> threading.Thread:
        seen: list[threading.Thread] = []
        with Behind(lambda block: seen.append(threading.current_thread()), name=name) as behind:
            behind.put(b"x")
        return seen[0]

    found: dict[str, threading.Thread] = {}

    def producer() -> None:
        with Behind(lambda block: found.setdefault("outer", threading.current_thread()), name="test-nested") as behind:
            behind.put(b"x")
            found["inner"] = helper_of("test-nested")  # waiting for the busy outer helper would never end
        found["first"], found["second"] = helper_of("test-reused"), helper_of("test-reused")

    thread = threading.Thread(target=producer)
    thread.start()
    thread.join(5)

    assert not thread.is_alive()
    assert found["first"] is found["second"]
    assert found["inner"] is not found["outer"]


def test_behind_works_in_a_forked_child_whose_helpers_did_not_come_along() -> None:
    def used() -> None:
        with Behind(lambda block: None, name="test-fork") as behind:
            behind.put(b"x")

    used()  # this thread now keeps a helper, which a forked child inherits the record of but not the thread
    child = os.fork()
    if child == 0:
        used()
        os._exit(0)
    deadline = time.monotonic() + 5
    while (ended := os.waitpid(child, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    if ended[0] == 0:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)

    assert ended[0] == child and os.waitstatus_to_exitcode(ended[1]) == 0


def test_behind_helpers_end_after_the_thread_that_kept_them() -> None:
    helpers: list[threading.Thread] = []

    def owner() -> None:
        with Behind(lambda block: helpers.append(threading.current_thread()), name="test-owned") as behind:
            behind.put(b"x")

    thread = threading.Thread(target=owner)
    thread.start()
    thread.join(5)
    helpers[0].join(5)

    assert not thread.is_alive()
    assert not helpers[0].is_alive()
