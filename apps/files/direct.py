"""Appending a tus chunk to a local file, with direct I/O (O_DIRECT) where the filesystem has it.

Every chunk is synced before its offset is committed, so the page cache buys an upload nothing: the bytes are
copied into freshly allocated cache pages only to be written back at once. On the development VM that copy was the
slowest and most erratic part of a chunk (a buffered 1 GiB write with one fdatasync: 278 MB/s to 1.7 GB/s within
minutes; with O_DIRECT: 1.2 GB/s every time; tests/benchmarks/files/README.md). Direct I/O wants the memory
address, the file offset and the length aligned to the device's blocks, so the bytes are gathered in one
page-aligned buffer (a whole aligned block that arrives in an aligned buffer of its own, as the upload receives
them, is written from there instead): a chunk that starts inside a block first reads that block's head back from
the file (those bytes are committed and written again unchanged), and the last partial block goes through the page
cache, so nothing is ever written past the chunk's own bytes (a writer whose lease ran out must not pad or cut what
a newer one committed). Where O_DIRECT is refused (tmpfs, some network filesystems), or its writes are (a device
whose blocks are larger than ALIGN), the chunk goes through the page cache as before.

Either way, whatever lies past `offset` (left by a chunk that failed before its offset was committed) is cut
first, and nothing counts as stored before `finish()` returns.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import logging
import mmap
import os
from typing import IO

logger = logging.getLogger(__name__)
_refused_devices: set[int] = set()  # devices whose blocks are larger than ALIGN (this process found out)

ALIGN = 4096  # a multiple of the logical block size of nearly every device (larger ones fall back, below)
RUN = 1024**2  # bytes per direct write; little is left to write once the last byte is in (4 MiB was ~20% slower)


def _aligned(view: memoryview) -> bool:
    """Whether a writable, non-empty, contiguous view starts on an ALIGN boundary (any other is copied)."""
    if view.readonly or not view.nbytes or not view.c_contiguous:
        return False
    return ctypes.addressof(ctypes.c_char.from_buffer(view)) % ALIGN == 0


class DirectAppender:
    """Appends at `offset` of an open O_DIRECT descriptor through an aligned buffer (see the module docstring)."""

    def __init__(self, fd: int, path: str | os.PathLike[str], offset: int) -> None:
        self._fd, self._path = fd, path
        self._buffer = mmap.mmap(-1, RUN)  # anonymous mappings are page-aligned
        self._view = memoryview(self._buffer)
        os.ftruncate(fd, offset)
        self._position = offset - offset % ALIGN  # where the buffer's first byte goes in the file
        self._filled = offset - self._position
        if self._filled:  # the chunk starts inside a block, whose head is written again with it
            plain = os.open(path, os.O_RDONLY)
            try:
                head = os.pread(plain, self._filled, self._position)
            finally:
                os.close(plain)
            if len(head) != self._filled:
                raise FileNotFoundError(f"{path} was cut while a chunk was being appended")
            self._view[: self._filled] = head

    def write(self, data: bytes | memoryview) -> None:
        if not self._filled and isinstance(data, memoryview) and data.nbytes % ALIGN == 0 and _aligned(data):
            # already an aligned buffer (the body was received into it): written from there, not copied
            self._advance(self._pwrite(data), data.nbytes)
            return
        source = memoryview(data).cast("B")
        while source:
            take = min(len(source), RUN - self._filled)
            self._view[self._filled : self._filled + take] = source[:take]
            self._filled += take
            source = source[take:]
            if self._filled == RUN:
                self._write_out(RUN)

    def _write_out(self, size: int) -> None:
        """Write the first `size` bytes of the buffer (no view of it outlives the call, so close() can unmap it)."""
        self._advance(self._pwrite(self._view[:size]), size)

    def _pwrite(self, data: memoryview) -> int:
        try:
            return os.pwrite(self._fd, data, self._position)
        except OSError as exc:
            ours = self._position % ALIGN or data.nbytes % ALIGN or not _aligned(data)
            flags = fcntl.fcntl(self._fd, fcntl.F_GETFL) if exc.errno == errno.EINVAL and not ours else 0
            if not flags & os.O_DIRECT:
                del data  # kept by the traceback, a view of our buffer would stop close() from unmapping it
                raise
            # aligned as ALIGN asks and refused all the same: a device with larger blocks. This chunk goes on
            # through the page cache, and so do later ones on this device
            _refused_devices.add(os.fstat(self._fd).st_dev)
            logger.warning("%s: direct I/O refused at %d-byte alignment; using the page cache", self._path, ALIGN)
            fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
        return os.pwrite(self._fd, data, self._position)

    def _advance(self, written: int, size: int) -> None:
        if written != size:  # a regular file writes short when full
            raise OSError(errno.ENOSPC, "No space left on device", str(self._path))
        self._position += size
        self._filled = 0

    def finish(self, *, sync: bool) -> None:
        whole = self._filled - self._filled % ALIGN
        tail = bytes(self._view[whole : self._filled])
        if whole:
            self._write_out(whole)
        plain = os.open(self._path, os.O_WRONLY)  # the last partial block, through the page cache, unpadded
        try:
            if tail and os.pwrite(plain, tail, self._position) != len(tail):
                raise OSError(errno.ENOSPC, "No space left on device", str(self._path))
            if sync:
                os.fdatasync(plain)  # the tail, the file's size, and the device's write cache
        finally:
            os.close(plain)

    def close(self) -> None:
        try:
            self._view.release()
            self._buffer.close()
        finally:
            os.close(self._fd)


class BufferedAppender:
    """The same through the page cache, for filesystems without direct I/O."""

    def __init__(self, out: IO[bytes], offset: int) -> None:
        self._out = out
        out.truncate(offset)
        out.seek(offset)

    def write(self, data: bytes | memoryview) -> None:
        self._out.write(data)

    def finish(self, *, sync: bool) -> None:
        self._out.flush()
        if sync:
            os.fdatasync(self._out.fileno())

    def close(self) -> None:
        self._out.close()


def appender_open(path: str | os.PathLike[str], offset: int) -> DirectAppender | BufferedAppender:
    """An appender at `offset` of the existing file `path` (FileNotFoundError when it is gone)."""
    if os.stat(path).st_dev in _refused_devices:
        return BufferedAppender(open(path, "r+b"), offset)  # closed by the caller
    try:
        fd = os.open(path, os.O_RDWR | os.O_DIRECT)
    except FileNotFoundError:
        raise
    except OSError:  # EINVAL: this filesystem has no direct I/O
        return BufferedAppender(open(path, "r+b"), offset)
    try:
        return DirectAppender(fd, path, offset)
    except BaseException:
        os.close(fd)
        raise
