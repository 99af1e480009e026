"""Request threads kept between requests, for Django's ASGI handler.

Django runs each ASGI request's synchronous code (sync middleware, views, ORM) on one thread of its own, made for
the request and torn down after it (asgiref's ThreadSensitiveContext). Every request therefore started a thread
and opened, then closed, a connection to each database it used; closing the last connection to a SQLite file
also checkpoints its write-ahead log. On the 2-core development VM that was about 2 ms of every tus PATCH (a small
PATCH went from 9.9 to 7 ms; tests/benchmarks/files/README.md). Here a request borrows a thread from a small pool
instead: still one thread per request, as Django expects, but a warm one, whose database connections live on
under CONN_MAX_AGE (config/settings/profiles.py).

A thread goes back to the pool only when nothing submitted to it still runs. Django waits for a request's sync
code before the request ends, but a request cancelled from outside (uvicorn giving up at the end of a graceful
shutdown) returns while a view runs on: that thread is retired once it is done instead of being lent again.
A retired thread, and one the pool has no room for, closes its database connections before it ends.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler
from django.db import connections

P = ParamSpec("P")
T = TypeVar("T")
IDLE_MAX = 8  # warm threads kept; more may run at once, the surplus ends with its request


class RequestThread(ThreadPoolExecutor):
    """One worker thread that knows whether it still has work queued or running."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")
        self._lock = threading.Lock()
        self._pending = 0

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        with self._lock:
            self._pending += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:  # shut down: nothing was queued
            self._finished(None)
            raise
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _: Future[Any] | None) -> None:
        with self._lock:
            self._pending -= 1

    @property
    def idle(self) -> bool:
        with self._lock:
            return self._pending == 0

    def retire(self) -> None:
        """End the thread once its work is done, closing its database connections first: a thread's connections
        are its own, and kept across requests they would otherwise stay open until the garbage collector finds
        them."""
        self.submit(connections.close_all)
        self.shutdown(wait=False)


class RequestThreads:
    """The pool: lend a warm thread (or a new one), take it back when it is idle and there is room."""

    def __init__(self, *, idle_max: int = IDLE_MAX) -> None:
        self.idle_max = idle_max
        self._idle: list[RequestThread] = []  # touched only on the event loop's thread

    def lend(self) -> RequestThread:
        return self._idle.pop() if self._idle else RequestThread()

    def give_back(self, thread: RequestThread) -> None:
        if thread.idle and len(self._idle) < self.idle_max:
            self._idle.append(thread)
        else:
            thread.retire()  # a busy thread finishes its work, then ends

    def close(self) -> None:
        while self._idle:
            self._idle.pop().retire()


class PooledThreadsHandler(ASGIHandler):
    """Django's ASGI handler, running each request's synchronous code on a thread from `RequestThreads`."""

    def __init__(self, *, idle_threads: int = IDLE_MAX) -> None:
        super().__init__()
        self.threads = RequestThreads(idle_max=idle_threads)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        async with self.request_thread():
            await self.handle(scope, receive, send)

    @asynccontextmanager
    async def request_thread(self) -> AsyncIterator[None]:
        """Within it, thread-sensitive `sync_to_async` calls run on one pooled thread: a request's thread."""
        thread = self.threads.lend()
        try:
            async with ThreadSensitiveContext(executor=thread):
                yield
        finally:
            self.threads.give_back(thread)
