"""Work on a stream of blocks done one step behind, on a helper thread, so that it overlaps producing the next ones.

A tus chunk costs three things of similar size per byte: receiving it, hashing it (SHA-256) and copying it into
the page cache. Done one after the other on the view's thread they add up; the hash and the page-cache copy both
release the GIL, so each given its own thread they run beside the receiving on the other core
(tests/benchmarks/files/README.md has the figures). Memory stays bounded: at most `depth` blocks wait.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType

DEPTH = 4  # blocks handed over and not yet consumed, at most
Block = bytes | memoryview  # a block of a body or file; a view may be of a buffer that is reused later


class Behind:
    """`consume(block)` for every block `put`, in order, on a helper thread. As a context manager: leaving it
    normally waits for the last block and raises what `consume` raised; leaving it by an exception (or
    GeneratorExit) drops what is still waiting and lets that exception through, once the helper has stopped.
    Once `put` returns, the helper is at most `depth` + 1 blocks behind: the upload's receive buffers rely on that
    (apps/files/services/uploads.py, RING)."""

    def __init__(self, consume: Callable[[Block], object], *, name: str, depth: int = DEPTH) -> None:
        self._consume = consume
        self._pending: queue.Queue[Block | None] = queue.Queue(maxsize=depth)
        self._failure: BaseException | None = None
        self._dropping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Behind:
        self._thread.start()
        return self

    def put(self, block: Block) -> None:
        """Hand `block` over, waiting while `depth` blocks wait; raises at once once `consume` has failed."""
        if self._failure is not None:
            raise self._failure
        self._pending.put(block)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._dropping = kind is not None
        self._pending.put(None)
        self._thread.join()
        if kind is None and self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        while (block := self._pending.get()) is not None:
            if self._failure is None and not self._dropping:
                try:
                    self._consume(block)
                except BaseException as exc:  # raised on the producer's side
                    self._failure = exc
