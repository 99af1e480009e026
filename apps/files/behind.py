"""Work on a stream of blocks done one step behind, on a helper thread, so that it overlaps producing the next ones.

A tus chunk costs three things of similar size per byte: receiving it, hashing it (SHA-256) and copying it into
the page cache. Done one after the other on the view's thread they add up; the hash and the page-cache copy both
release the GIL, so each given a helper thread they run beside the receiving on the other core
(tests/benchmarks/files/README.md has the figures). Memory stays bounded: at most `depth` blocks wait. Helper
threads are kept by the thread that uses them rather than started for every chunk.
"""

from __future__ import annotations

import queue
import threading
import weakref
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
        self._name = name
        self._done: threading.Event  # set once the helper has consumed everything (from __enter__ on)

    def __enter__(self) -> Behind:
        self._done = _lane_lend(self._name).run(self._run)
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
        self._done.wait()
        if kind is None and self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        while (block := self._pending.get()) is not None:
            if self._failure is None and not self._dropping:
                try:
                    self._consume(block)
                except BaseException as exc:  # raised on the producer's side
                    self._failure = exc


_Job = Callable[[], None]
_lanes = threading.local()


class _Lane:
    """A helper thread kept by the thread that uses it, for one `Behind` at a time: starting two threads for every
    tus chunk took about 0.2 ms of the chunk's set-up. It ends after its owner's thread has (that thread's locals
    go, and the finalizer tells the helper)."""

    def __init__(self, name: str) -> None:
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.busy = False
        self.thread = threading.Thread(target=_lane_run, args=(self.jobs,), name=name, daemon=True)
        self.thread.start()
        weakref.finalize(self, self.jobs.put, None)

    def run(self, job: _Job) -> threading.Event:
        """Start `job` on the helper; the event is set once it has returned and the helper is idle again."""
        self.busy, done = True, threading.Event()

        def step() -> None:
            try:
                job()
            finally:
                self.busy = False
                done.set()

        self.jobs.put(step)
        return done


def _lane_run(jobs: queue.SimpleQueue[_Job | None]) -> None:
    while (job := jobs.get()) is not None:
        job()
        del job  # kept while waiting for the next one, the last job would keep its lane, which would never end


def _lane_lend(name: str) -> _Lane:
    """An idle helper of this thread's for `name`, or a new one: for a `Behind` inside another of the same name, and
    after a fork, whose child inherits this thread's lanes but none of their threads."""
    mine: dict[str, list[_Lane]] = _lanes.__dict__.setdefault("by_name", {})
    lanes = mine[name] = [lane for lane in mine.get(name, []) if lane.thread.is_alive()]
    lane = next((lane for lane in lanes if not lane.busy), None)
    if lane is None:
        lanes.append(lane := _Lane(name))
    return lane
