"""Appending a tus chunk to a local file through the page cache, each block's write-back started as it is written.

Every chunk is synced before its offset is committed, so what matters is how long that sync waits and what the
cache pages cost:
- each block's write-back starts as soon as the block is written (`sync_file_range`), so the device works while
  the rest of the chunk arrives and the sync at the end waits only for its last part;
- once synced, the chunk's pages are dropped from the cache (`POSIX_FADV_DONTNEED`), so the next chunk writes into
  pages just freed instead of fresh ones, and a large upload does not push other files out of the cache.
On the development VM a page the guest has not used lately is supplied by the hypervisor on first touch, which made
plain buffered writes erratic; written this way 2 GiB in synced 8 MiB chunks ran at 0.73-0.94 GB/s, against
0.34-0.48 GB/s for the O_DIRECT appends used before (1 MiB at a time, each waited for), in the same hour
(tests/benchmarks/files/README.md). Both hints are only hints: where they are missing nothing else changes.

Whatever lies past `offset` (left by a chunk that failed before its offset was committed) is cut first, and nothing
counts as stored before `finish()` returns.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

SYNC_FILE_RANGE_WRITE = 2  # start writing back dirty pages in the range; do not wait


def _writeback_starter() -> Callable[[int, int, int, int], int] | None:
    """libc's sync_file_range (Linux), or None where there is none."""
    try:
        function = ctypes.CDLL(None).sync_file_range
    except (OSError, AttributeError, TypeError):  # TypeError: Windows has no process-wide symbol table
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_sync_file_range = _writeback_starter()


class Appender:
    """Appends at `offset` of the existing file `path` (FileNotFoundError when it is gone); see the module docstring."""

    def __init__(self, path: str | os.PathLike[str], offset: int) -> None:
        self._fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(self._fd, offset)
        except BaseException:
            os.close(self._fd)
            raise
        self._path, self._start, self._position = path, offset, offset

    def write(self, data: bytes | memoryview) -> None:
        size = memoryview(data).nbytes
        with self._named():
            if os.pwrite(self._fd, data, self._position) != size:  # a regular file writes short only when full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if _sync_file_range is not None:  # a failure (a filesystem without it) leaves the sync all the work
            _sync_file_range(self._fd, self._position, size, SYNC_FILE_RANGE_WRITE)
        self._position += size

    def finish(self, *, sync: bool) -> None:
        if not sync:
            return
        with self._named():  # write-back errors (a full disk, a quota) surface here too
            os.fdatasync(self._fd)  # the bytes, the file's size and the device's write cache
        written = self._position - self._start
        if written and hasattr(os, "posix_fadvise"):
            with suppress(OSError):  # clean now, so dropped rather than kept; the chunk is stored either way
                os.posix_fadvise(self._fd, self._start, written, os.POSIX_FADV_DONTNEED)

    @contextmanager
    def _named(self) -> Iterator[None]:
        """The kernel's errors name no file; the upload's log and response should."""
        try:
            yield
        except OSError as exc:
            if exc.filename is not None:
                raise
            raise OSError(exc.errno, exc.strerror, str(self._path)) from exc

    def close(self) -> None:
        os.close(self._fd)
