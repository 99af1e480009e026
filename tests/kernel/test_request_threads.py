"""Request threads kept between requests (apps/kernel/request_threads.py): the handler is called as uvicorn calls it,
with the sync views of tests/kernel/thread_urls.py."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from apps.kernel.request_threads import PooledThreadsHandler, RequestThreads
from tests.kernel import thread_urls
from tests.servers import deployable_env, server_start


@pytest.fixture
def handler() -> Iterator[PooledThreadsHandler]:
    """A handler serving tests/kernel/thread_urls.py; whatever the test left holding is let go afterwards."""
    thread_urls.held.clear()
    thread_urls.release.clear()
    with override_settings(ROOT_URLCONF="tests.kernel.thread_urls"):
        served = PooledThreadsHandler()
        yield served
        thread_urls.release.set()
        served.threads.close()


async def _held() -> None:
    assert await asyncio.to_thread(thread_urls.held.wait, 5), "/hold/ never started"


async def _get(handler: PooledThreadsHandler, path: str, gone: asyncio.Event | None = None) -> dict[str, Any]:
    """One GET through the handler; `gone`, once set, is the client disconnecting."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }
    asked = False
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await (gone or asyncio.Event()).wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await handler(scope, receive, send)
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return json.loads(body) if body else {}


@pytest.mark.django_db(databases=["files"], transaction=True)
async def test_requests_one_after_another_reuse_one_warm_thread(handler: PooledThreadsHandler) -> None:
    first = await _get(handler, "/where/")
    second = await _get(handler, "/where/")

    assert second["thread"] == first["thread"]


@pytest.mark.django_db(databases=["files"], transaction=True)
async def test_concurrent_requests_each_get_a_thread_of_their_own(handler: PooledThreadsHandler) -> None:
    holding = asyncio.create_task(_get(handler, "/hold/"))
    await _held()

    beside = await _get(handler, "/where/")
    thread_urls.release.set()
    held = await holding

    assert beside["thread"] != held["thread"]


@pytest.mark.django_db(databases=["files"], transaction=True)
async def test_a_request_abandoned_by_its_client_keeps_its_thread_until_its_view_returns(
    handler: PooledThreadsHandler,
) -> None:
    gone = asyncio.Event()
    abandoned = asyncio.create_task(_get(handler, "/hold/", gone))
    await _held()

    gone.set()  # the client goes; the view's thread cannot be stopped
    await asyncio.sleep(0.2)
    meanwhile = await _get(handler, "/where/")
    thread_urls.release.set()
    await abandoned

    assert meanwhile["thread"] != thread_urls.holder[0]  # served beside the abandoned view, not queued behind it


def test_a_thread_given_back_while_still_busy_is_retired_once_its_work_is_done() -> None:
    threads = RequestThreads()
    busy = threads.lend()
    running, finish = threading.Event(), threading.Event()

    def task() -> bool:
        running.set()
        return finish.wait(5)

    work = busy.submit(task)
    running.wait(5)

    threads.give_back(busy)
    other = threads.lend()

    assert other is not busy
    finish.set()
    assert work.result(timeout=5) is True
    with pytest.raises(RuntimeError, match="shutdown"):
        busy.submit(lambda: 1)
    threads.close()


def test_the_pool_keeps_at_most_idle_max_threads_and_shuts_the_rest_down() -> None:
    threads = RequestThreads(idle_max=2)
    lent = [threads.lend() for _ in range(3)]

    for thread in lent:
        threads.give_back(thread)

    assert {threads.lend(), threads.lend()} == set(lent[:2])
    assert lent[0].submit(lambda: 1).result(timeout=5) == 1
    with pytest.raises(RuntimeError, match="shutdown"):
        lent[2].submit(lambda: 1)
    threads.close()


def _new_connections(exposition: str, alias: str) -> float:
    pattern = rf'^django_db_new_connections_total\{{alias="{alias}",vendor="sqlite"\}} (\S+)$'
    match = re.search(pattern, exposition, re.MULTILINE)
    assert match, exposition[:2000]
    return float(match.group(1))


def test_a_served_process_keeps_its_embedded_database_connections_across_requests(tmp_path: Path) -> None:
    env = deployable_env("monolith", tmp_path, REDIS_URL="redis://127.0.0.1:1/0")  # no Redis: readyz answers fast
    server = server_start(env, log=tmp_path / "web.log")
    try:
        for _ in range(10):  # each checks every database with a query
            with pytest.raises(urllib.error.HTTPError, match="503"):
                urllib.request.urlopen(f"{server.url}/readyz", timeout=10)
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
            exposition = response.read().decode()
    finally:
        server.stop()

    # one per warm thread, not per request: a request that arrives while the one before is still being wound up
    # (its response already sent) borrows a second thread
    assert _new_connections(exposition, "files") <= 2
    assert _new_connections(exposition, "jobs") <= 2


def test_a_retired_thread_closes_its_database_connections_on_itself_before_it_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed_on: list[str] = []

    class Connections:
        @staticmethod
        def close_all() -> None:
            closed_on.append(threading.current_thread().name)

    monkeypatch.setattr("apps.kernel.request_threads.connections", Connections)
    threads = RequestThreads(idle_max=0)
    thread = threads.lend()
    served_on = thread.submit(lambda: threading.current_thread().name).result(timeout=5)

    threads.give_back(thread)  # no room: retired
    thread.shutdown(wait=True)

    assert closed_on == [served_on]
