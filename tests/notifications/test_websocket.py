"""/ws/notifications/ on the full ASGI stack: the web server (uvicorn) and the event consumer are two separate
processes joined only by channels-redis and the event streams on a real Redis (tests/notifications/stack.py).

A job status change consumed in the consumer process reaches its owner's socket within a second and nobody
else's; missing, forged and expired tokens are closed with 4401; a reconnecting client catches up with
`?since=`; marking read over the socket reaches the user's other sockets; heartbeats flow and a socket
closes when its token expires.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.notifications.stack import ORIGIN, Stack, key_pair, stack_start

pytestmark = pytest.mark.redis

HEARTBEAT = 1.0
_user_ids = itertools.count(5001)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = stack_start(tmp_path_factory.mktemp("notifications-stack"), heartbeat=HEARTBEAT)
    yield started
    started.stop()


def _socket(url: str, **options: Any) -> Any:
    return connect(url, origin=ORIGIN, proxy=None, open_timeout=5, **options)  # type: ignore[arg-type]


async def _next(ws: ClientConnection, within: float = 3.0) -> dict[str, Any]:
    """The next message that is not a heartbeat."""
    deadline = time.monotonic() + within
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if message["type"] != "ping":
            return message


async def _nothing_but_pings(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """What arrived within `seconds`, heartbeats left out."""
    got: list[dict[str, Any]] = []
    try:
        while True:
            got.append(await _next(ws, seconds))
    except TimeoutError:
        return got


def _job(stack: Stack, user_id: int, status: str, job_id: str, **extra: Any) -> str:
    payload = {"job_id": job_id, "service_id": 3, "user_id": user_id, "status": status, **extra}
    return stack.publish("job.status.updated", payload, aggregate_id=job_id)


def _wait_unread(stack: Stack, user_id: int, count: int) -> None:
    deadline = time.monotonic() + 10
    while stack.get("/api/notifications/unread-count/", user_id=user_id)["unread_count"] != count:
        assert time.monotonic() < deadline, "the consumer process did not apply the events"
        time.sleep(0.05)


async def test_a_job_status_change_reaches_its_owner_within_a_second_and_nobody_else(stack: Stack) -> None:
    owner, other = next(_user_ids), next(_user_ids)
    async with (
        _socket(stack.ws_url(token=stack.token(owner))) as mine,
        _socket(stack.ws_url(), subprotocols=[f"bearer.{stack.token(other)}"]) as theirs,
    ):
        started = time.monotonic()
        _job(stack, owner, "completed", "job-ws-1", stage="done", progress=100, name="chr22 run")
        status = await _next(mine)
        latency = time.monotonic() - started
        notification = await _next(mine)
        leaked = await _nothing_but_pings(theirs, 1.0)

    assert status == {
        "type": "job.status",
        "data": {"job_id": "job-ws-1", "status": "completed", "stage": "done", "progress": 100},
    }
    assert latency < 1.0, f"{latency:.3f} s from the stream to the owner's socket"
    assert notification == {
        "type": "notification",
        "data": {
            "id": notification["data"]["id"],
            "type": "job_update",
            "title": 'Job "chr22 run" completed',
            "message": "Your job finished; its results are ready to download.",
            "data": {"job_id": "job-ws-1", "service_id": 3, "status": "completed", "stage": "done", "progress": 100},
            "priority": "normal",
            "created_at": notification["data"]["created_at"],
            "read_at": None,
            "is_read": False,
        },
    }
    assert leaked == []


async def test_the_bearer_subprotocol_is_accepted_back(stack: Stack) -> None:
    protocol = f"bearer.{stack.token(next(_user_ids))}"

    async with _socket(stack.ws_url(), subprotocols=[protocol]) as ws:
        await ws.send(json.dumps({"action": "ping"}))
        pong = await _next(ws)

    assert ws.subprotocol == protocol
    assert pong["type"] == "pong"


@pytest.mark.parametrize("credential", ["none", "garbage", "forged", "expired", "refresh"])
async def test_a_socket_without_a_valid_access_token_is_closed_with_4401(stack: Stack, credential: str) -> None:
    user_id = next(_user_ids)
    tokens = {
        "none": None,
        "garbage": "not-a-jwt",
        "forged": _forged(user_id),
        "expired": stack.token(user_id, lifetime=-timedelta(seconds=5)),
        "refresh": stack.token(user_id, token_type="refresh"),
    }
    token = tokens[credential]
    url = stack.ws_url(token=token) if token else stack.ws_url()

    async with _socket(url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()

    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "")


def _forged(user_id: int) -> str:
    import jwt

    other_key, _ = key_pair()
    return jwt.encode({"token_type": "access", "user_id": str(user_id), "exp": time.time() + 600}, other_key, "RS256")


async def test_a_socket_closes_with_4401_when_its_token_expires(stack: Stack) -> None:
    async with _socket(stack.ws_url(token=stack.token(next(_user_ids), lifetime=timedelta(seconds=2)))) as ws:
        opened = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()

    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert 0.5 < time.monotonic() - opened < 4


async def test_heartbeats_flow_while_nothing_happens(stack: Stack) -> None:
    async with _socket(stack.ws_url(token=stack.token(next(_user_ids)))) as ws:
        ping = json.loads(await asyncio.wait_for(ws.recv(), HEARTBEAT * 3))

    assert ping["type"] == "ping"


async def test_a_foreign_origin_is_refused_at_the_handshake(stack: Stack) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(stack.ws_url(token=stack.token(1)), origin="https://evil.example", proxy=None):  # type: ignore[arg-type]
            pass

    assert refused.value.response.status_code == 403


async def test_a_reconnecting_client_catches_up_on_what_it_missed(stack: Stack) -> None:
    owner = next(_user_ids)
    token = stack.token(owner)
    async with _socket(stack.ws_url(token=token)) as ws:
        _job(stack, owner, "completed", "job-ws-2")
        await _next(ws)  # job.status
        seen = (await _next(ws))["data"]["id"]
    _job(stack, owner, "failed", "job-ws-3", message="QC failed.")
    _job(stack, owner, "cancelled", "job-ws-4")
    _wait_unread(stack, owner, 3)

    async with _socket(stack.ws_url(token=token, since=seen)) as ws:
        missed = [await _next(ws), await _next(ws)]
        synced = await _next(ws)

    assert [(m["type"], m["data"]["title"]) for m in missed] == [
        ("notification", 'Job "job-ws-3" failed'),
        ("notification", 'Job "job-ws-4" was cancelled'),
    ]
    assert missed[0]["data"]["id"] > seen
    assert synced == {"type": "synced", "data": {"count": 2, "last_id": missed[1]["data"]["id"], "more": False}}


async def test_marking_read_over_one_socket_reaches_the_users_other_sockets(stack: Stack) -> None:
    owner, other = next(_user_ids), next(_user_ids)
    _job(stack, owner, "completed", "job-ws-5")
    _job(stack, other, "completed", "job-ws-6")
    _wait_unread(stack, owner, 1)
    _wait_unread(stack, other, 1)
    [mine] = stack.get("/api/notifications/", user_id=owner)["results"]
    [theirs] = stack.get("/api/notifications/", user_id=other)["results"]

    async with (
        _socket(stack.ws_url(token=stack.token(owner))) as laptop,
        _socket(stack.ws_url(token=stack.token(owner))) as phone,
    ):
        await laptop.send(json.dumps({"action": "mark_read", "id": theirs["id"]}))
        refused = await _next(laptop)
        await laptop.send(json.dumps({"action": "mark_read", "id": mine["id"]}))
        on_laptop, on_phone = await _next(laptop), await _next(phone)
        await laptop.send("not json")
        garbled = await _next(laptop)

    read = {"type": "read", "data": {"ids": [mine["id"]], "all": False, "unread_count": 0}}
    assert refused == {"type": "error", "data": {"code": "NOT_FOUND", "message": f"No notification {theirs['id']}."}}
    assert on_laptop == on_phone == read
    assert garbled == {"type": "error", "data": {"code": "VALIDATION_ERROR", "message": "Send JSON text frames."}}
    assert stack.get("/api/notifications/unread-count/", user_id=owner) == {"unread_count": 0}
    assert stack.get("/api/notifications/unread-count/", user_id=other) == {"unread_count": 1}


def test_the_token_never_reaches_the_servers_log(stack: Stack) -> None:
    token = stack.token(next(_user_ids))

    async def visit() -> None:
        async with _socket(stack.ws_url(token=token)):
            pass

    asyncio.run(visit())
    logged = Path(stack.work / "server.log").read_text()

    assert token not in logged
    assert '"WebSocket /ws/notifications/?token=[redacted]" [accepted]' in logged
