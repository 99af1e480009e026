"""Appending tus chunks to local files (apps/files/direct.py) and the write-behind thread (apps/files/behind.py).

Both appenders run on the test's temporary directory (the machine's disk, which has direct I/O) and must leave
exactly the bytes sent, whatever the chunks' alignment."""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import signal
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, cast

import pytest

from apps.files import direct
from apps.files.behind import Behind
from apps.files.direct import ALIGN, RUN, BufferedAppender, DirectAppender, appender_open

# sizes that start and end inside blocks, span whole buffers and end exactly on a block
ODD_CHUNKS = (1, ALIGN - 1, ALIGN + 1, RUN + 3, 2 * RUN, 100, ALIGN)


Opener = Callable[[Path, int], "DirectAppender | BufferedAppender"]


def _direct(path: Path, offset: int) -> DirectAppender:
    return DirectAppender(os.open(path, os.O_RDWR | os.O_DIRECT), path, offset)


def _buffered(path: Path, offset: int) -> BufferedAppender:
    return BufferedAppender(path.open("r+b"), offset)


@pytest.fixture(params=[_direct, _buffered], ids=["direct", "buffered"])
def opener(request: pytest.FixtureRequest) -> Opener:
    return cast(Opener, request.param)


def _append(opener: Opener, path: Path, offset: int, data: bytes, pieces: int = 3) -> None:
    appender = opener(path, offset)
    try:
        step = max(1, len(data) // pieces)
        for start in range(0, len(data), step):
            appender.write(data[start : start + step])
        appender.finish(sync=True)
    finally:
        appender.close()


def test_chunks_of_any_alignment_leave_exactly_the_bytes_sent(opener: Opener, tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.touch()
    sent = b""

    for size in ODD_CHUNKS:
        chunk = os.urandom(size)
        _append(opener, path, len(sent), chunk)
        sent += chunk

        assert path.stat().st_size == len(sent)
    assert path.read_bytes() == sent


def test_aligned_views_are_written_in_place_and_the_rest_through_the_appenders_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given page-aligned buffers (as an upload receives into), and a record of whose memory each direct write is from
    path = tmp_path / "upload"
    path.touch()
    blocks = [os.urandom(RUN), os.urandom(RUN), os.urandom(ALIGN + 7)]
    aligned = [memoryview(mmap.mmap(-1, RUN))[: len(block)] for block in blocks]
    for view, block in zip(aligned, blocks, strict=True):
        view[:] = block
    written: list[str] = []
    pwrite = os.pwrite

    def recorded(fd: int, data: bytes | memoryview, offset: int) -> int:
        if isinstance(data, memoryview):  # a block going direct (the unaligned tail goes as bytes)
            written.append("caller's" if any(data.obj is view.obj for view in aligned) else "own")
        return pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", recorded)
    # when a chunk of whole aligned views is appended at an aligned offset, then chunks that start inside a block
    _append_views(path, 0, aligned[:2])
    _append_views(path, 2 * RUN, [memoryview(bytearray(b"x" * 10))])
    _append_views(path, 2 * RUN + 10, aligned[2:])
    # then the file holds exactly the bytes; the aligned views went to the disk from the caller's memory, the rest
    # through the appender's buffer
    assert path.read_bytes() == blocks[0] + blocks[1] + b"x" * 10 + blocks[2]
    assert written == ["caller's", "caller's", "own"]


def test_a_full_disk_is_reported_as_such_and_the_appender_still_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a disk that takes nothing more
    path = tmp_path / "upload"
    path.touch()
    monkeypatch.setattr(os, "pwrite", lambda fd, data, offset: 0)
    # when whole blocks are appended from the appender's own buffer and from an aligned view
    aligned = memoryview(mmap.mmap(-1, RUN))
    for data in (bytes(RUN), aligned):
        with pytest.raises(OSError) as full, closing(_direct(path, 0)) as appender:
            appender.write(data)
        # then it is the disk's error, not one from unmapping a buffer still in use
        assert full.value.errno == errno.ENOSPC


def test_a_device_with_larger_blocks_gets_the_rest_of_the_chunk_through_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a device with 8 KiB blocks: a direct write not on its block boundaries is refused, as the kernel does
    path = tmp_path / "upload"
    path.touch()
    real_pwrite, refused = os.pwrite, []

    def blocks_of_8k(fd: int, data: Any, offset: int) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT and (offset % 8192 or len(data) % 8192):
            refused.append(offset)
            del data  # as os.pwrite keeps no reference to what it was given
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", blocks_of_8k)
    monkeypatch.setattr(direct, "_refused_devices", set())
    aligned = memoryview(mmap.mmap(-1, RUN))
    aligned[:] = os.urandom(RUN)
    rest = os.urandom(RUN + ALIGN + 3)
    # when a chunk is appended from an aligned view of the caller's (direct, accepted), then through the appender's
    # buffer (one run accepted, then 4 KiB refused at the end)
    with closing(_direct(path, 0)) as appender:
        appender.write(aligned)
        appender.write(rest)
        appender.finish(sync=True)
    # then every byte is there, the refused write was the last one tried directly, and the next chunk on this
    # device goes through the page cache from the start
    assert path.read_bytes() == bytes(aligned) + rest
    assert refused == [2 * RUN]
    with closing(appender_open(path, path.stat().st_size)) as next_chunk:
        assert isinstance(next_chunk, BufferedAppender)


def test_a_refused_direct_write_that_we_misaligned_is_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an appender whose buffer is misaligned by a bug of ours, on a disk that refuses it
    path = tmp_path / "upload"
    path.touch()

    def refuse(fd: int, data: Any, offset: int) -> int:
        del data  # as os.pwrite keeps no reference to what it was given
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "pwrite", refuse)
    with closing(_direct(path, 0)) as appender:
        appender._position = 1  # the bug being simulated
        # when a run is written
        with pytest.raises(OSError) as refused:
            appender.write(bytes(RUN))
    # then the refusal is raised, not written around through the page cache
    assert refused.value.errno == errno.EINVAL


def _append_views(path: Path, offset: int, views: list[memoryview]) -> None:
    appender = _direct(path, offset)
    try:
        for view in views:
            appender.write(view)
        appender.finish(sync=True)
    finally:
        appender.close()


def test_bytes_past_the_offset_left_by_a_failed_chunk_are_cut_first(opener: Opener, tmp_path: Path) -> None:
    path = tmp_path / "upload"
    committed, stale = os.urandom(5_000), os.urandom(7_000)
    path.write_bytes(committed + stale)

    chunk = os.urandom(300)
    _append(opener, path, len(committed), chunk)

    assert path.read_bytes() == committed + chunk


def test_a_writer_finishing_late_never_pads_or_cuts_what_a_newer_writer_committed(
    opener: Opener, tmp_path: Path
) -> None:
    """A PATCH whose lease ran out may still finish after a newer PATCH at the same offset committed more: it
    writes the same bytes of the same upload, and must write nothing else (no zero padding, no truncation)."""
    path = tmp_path / "upload"
    committed, data = os.urandom(ALIGN + 100), os.urandom(3 * ALIGN + 7)
    path.write_bytes(committed)
    stale = opener(path, len(committed))
    stale.write(data[:50])

    _append(opener, path, len(committed), data)
    stale.finish(sync=True)
    stale.close()

    assert path.read_bytes() == committed + data


def test_an_empty_finish_keeps_the_file_at_the_offset(opener: Opener, tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.write_bytes(os.urandom(ALIGN + 10))

    _append(opener, path, ALIGN + 3, b"")

    assert path.stat().st_size == ALIGN + 3


def test_appends_go_direct_where_the_filesystem_allows_and_through_the_page_cache_where_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "upload"
    path.touch()
    real_open = os.open

    def no_direct_io(file: Path, flags: int, *args: int) -> int:  # what tmpfs on older kernels, or NFS, answer
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(file, flags, *args)

    with closing(appender_open(path, 0)) as on_disk:
        assert isinstance(on_disk, DirectAppender)
    monkeypatch.setattr(os, "open", no_direct_io)
    with closing(appender_open(path, 0)) as refused:
        assert isinstance(refused, BufferedAppender)
    with pytest.raises(FileNotFoundError):
        appender_open(tmp_path / "deleted meanwhile", 0)


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
