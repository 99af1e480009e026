"""Pushes to a user's open sockets, from any process (web, event consumer, Celery worker), through the channel
layer (channels-redis): one group per user, `user.<id>`, which each of their sockets joins.

Pushes leave only after the change they announce has committed on the notifications database, so a client
that is told about notification 42 can always read it. A push that cannot be sent (Redis down) is logged and
lost: the client catches up on its next connection (`?since=`), and the data stays in the database.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from collections import defaultdict
from functools import partial
from typing import Any

import uvloop
from channels.layers import get_channel_layer
from django.db import transaction

from apps.notifications.models import DB

logger = logging.getLogger(__name__)

PUSH_EVENT = "push.message"  # handled by NotificationSocket.push_message
# channel-layer calls in flight per event loop: redis-py's asyncio pool (under channels-redis) holds at most 100
# connections and raises beyond, rather than waiting, so a burst of sockets connecting at once must queue here
LAYER_CONCURRENCY = 50

SEND_TIMEOUT = 60.0  # seconds a batch may take before the caller stops waiting for it

Push = tuple[int, dict[str, Any]]  # (user id, socket message)
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
_sender: tuple[int, asyncio.AbstractEventLoop] | None = None  # (pid, loop): a forked child starts its own
_sender_lock = threading.Lock()


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def layer_gate() -> asyncio.Semaphore:
    """The running event loop's bound on concurrent channel-layer calls (see LAYER_CONCURRENCY)."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(LAYER_CONCURRENCY)
    return gate


def push_on_commit(pushes: list[Push]) -> None:
    """Send these messages once the current transaction on the notifications database commits (never on
    rollback); outside a transaction they leave at once."""
    if pushes:
        transaction.on_commit(partial(push_send, list(pushes)), using=DB, robust=True)


def _sender_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for pushes from synchronous code, on a thread of its own.

    The channel layer keeps one Redis connection pool per event loop; async_to_sync would run each push in a
    new loop, paying a new pool and connection every time. One long-lived loop keeps them.
    """
    global _sender
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid() or _sender[1].is_closed():
            loop = uvloop.new_event_loop()  # what the web server runs on too: about twice asyncio's speed here
            threading.Thread(target=loop.run_forever, name="notifications-push", daemon=True).start()
            _sender = (os.getpid(), loop)
        return _sender[1]


def push_send(pushes: list[Push]) -> None:
    """Send now and wait until the channel layer has taken every message (or SEND_TIMEOUT)."""
    layer = get_channel_layer()
    if layer is None:
        return
    asyncio.run_coroutine_threadsafe(_send_all(layer, pushes), _sender_loop()).result(timeout=SEND_TIMEOUT)


async def _send_all(layer: Any, pushes: list[Push]) -> None:
    by_user: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
    for user_id, message in pushes:
        by_user[user_id].append(message)
    gate = layer_gate()

    async def send_user(user_id: int, messages: list[dict[str, Any]]) -> None:
        for message in messages:  # one user's messages in order; users side by side
            async with gate:
                await layer.group_send(user_group(user_id), {"type": PUSH_EVENT, "message": message})

    await asyncio.gather(*(send_user(user_id, messages) for user_id, messages in by_user.items()))
