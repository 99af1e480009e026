"""The /ws/notifications/ endpoint: a signed-in user's live feed of notifications and job status changes.

Authentication: the access JWT, as the subprotocol `bearer.<access>` (preferred: it stays out of URLs and
access logs; the server accepts that subprotocol back, as browsers require) or as `?token=<access>`. It is
checked like every other context checks it (simplejwt's AccessToken: signature with the public key, expiry,
token type), with no database. A missing, invalid or expired token gets the handshake accepted and the
socket closed at once with code 4401, so the client sees why; the socket is also closed with 4401 when its
token expires, and the client reconnects with a fresh one.

Each socket joins its user's group (apps/notifications/push.py), so pushes from any process reach every tab
of that user and nobody else. The server sends `ping` every NOTIFICATIONS_WS_HEARTBEAT_SECONDS (browsers
cannot see protocol-level pings); `?since=<last id seen>` first replays the notifications created after it,
then `synced`. Messages carry ids; a notification arriving both in the replay and live is the same id.
Clients may send {"action": "mark_read", "id": N} and {"action": "ping"}.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from prometheus_client import Gauge
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

from apps.kernel.errors import NotFoundError
from apps.notifications.messages import error_message, notification_message, socket_message
from apps.notifications.push import layer_gate, user_group
from apps.notifications.selectors.notifications import notifications_after
from apps.notifications.services.notifications import notification_mark_read

# authenticated sockets open in this process (the /metrics of the ASGI process that holds them)
SOCKETS_OPEN = Gauge("fip_websocket_connections", "Authenticated notification WebSockets open in this process.")

CLOSE_UNAUTHENTICATED = 4401
BEARER = "bearer."


@dataclass(frozen=True)
class SocketCaller:
    user_id: int
    expires_at: float  # epoch seconds: the access token's `exp`


def socket_credentials(scope: dict[str, Any]) -> tuple[str | None, str | None]:
    """The access token and, when it came as a subprotocol, that subprotocol (to accept it back)."""
    for protocol in scope.get("subprotocols") or []:
        if protocol.startswith(BEARER):
            return protocol.removeprefix(BEARER), protocol
    tokens = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return (tokens[0] if tokens else None), None


def socket_caller(token: str | None) -> SocketCaller | None:
    """Who the token says is calling, or None when it is missing, forged, expired or not an access token."""
    if not token:
        return None
    try:
        access = AccessToken(token)  # type: ignore[arg-type]  # annotated as a Token, takes the encoded str
        user_id = int(access[api_settings.USER_ID_CLAIM])
        return SocketCaller(user_id=user_id, expires_at=float(access["exp"]))
    except (TokenError, KeyError, TypeError, ValueError):
        return None


def _since(scope: dict[str, Any]) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("since")
    return values[0] if values else None


def _catch_up(user_id: int, after_id: int) -> list[dict[str, Any]]:
    limit = settings.NOTIFICATIONS_WS_RESYNC_LIMIT
    missed = notifications_after(user_id=user_id, after_id=after_id, limit=limit + 1)
    shown = missed[:limit]
    synced = {"count": len(shown), "last_id": shown[-1].pk if shown else None, "more": len(missed) > limit}
    return [*(notification_message(n) for n in shown), socket_message("synced", synced)]


def _mark_read(user_id: int, notification_id: int) -> None:
    notification_mark_read(user_id=user_id, notification_id=notification_id)


class NotificationSocket(AsyncJsonWebsocketConsumer):
    caller: SocketCaller | None = None
    heartbeat: asyncio.Task[None] | None = None
    closing = False  # after our close, the server takes no more frames: pushes still in flight are dropped

    async def _refuse(self) -> None:
        self.closing = True
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _send(self, message: dict[str, Any]) -> None:
        if not self.closing:
            await self.send_json(message)

    async def connect(self) -> None:
        token, subprotocol = socket_credentials(self.scope)
        caller = socket_caller(token)
        if caller is not None:
            # joined before the handshake completes: a client that is connected misses no later push
            async with layer_gate():
                await self.channel_layer.group_add(user_group(caller.user_id), self.channel_name)
            self.caller = caller
        await self.accept(subprotocol)  # even when refusing, so that the client can read the close code
        if self.caller is None:
            await self._refuse()
            return
        SOCKETS_OPEN.inc()
        self.heartbeat = asyncio.create_task(self._beat(self.caller))
        since = _since(self.scope)
        if since is None:
            return
        if not since.isdigit():
            await self.send_json(error_message("VALIDATION_ERROR", "since must be a notification id."))
            return
        for message in await database_sync_to_async(_catch_up)(self.caller.user_id, int(since)):
            await self.send_json(message)

    async def disconnect(self, code: int) -> None:
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        if self.caller is not None:
            SOCKETS_OPEN.dec()
            async with layer_gate():
                await self.channel_layer.group_discard(user_group(self.caller.user_id), self.channel_name)

    async def _beat(self, caller: SocketCaller) -> None:
        interval = settings.NOTIFICATIONS_WS_HEARTBEAT_SECONDS
        while True:
            left = caller.expires_at - time.time()
            await asyncio.sleep(max(0.0, min(interval, left)))
            if caller.expires_at <= time.time():
                await self._refuse()
                return
            await self._send(socket_message("ping", {"at": time.time()}))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        try:
            content = json.loads(text_data or "")
        except ValueError:
            await self.send_json(error_message("VALIDATION_ERROR", "Send JSON text frames."))
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if self.caller is None:
            return
        action = content.get("action") if isinstance(content, dict) else None
        if action == "ping":
            await self.send_json(socket_message("pong", {"at": time.time()}))
        elif action == "mark_read":
            notification_id = content.get("id")
            if isinstance(notification_id, bool) or not isinstance(notification_id, int):
                await self.send_json(error_message("VALIDATION_ERROR", "mark_read needs the notification's id."))
                return
            try:
                await database_sync_to_async(_mark_read)(self.caller.user_id, notification_id)
            except NotFoundError:
                await self.send_json(error_message("NOT_FOUND", f"No notification {notification_id}."))
            # success is announced to every socket of the user by the `read` push after the commit
        else:
            await self.send_json(error_message("VALIDATION_ERROR", "Unknown action; use mark_read or ping."))

    async def push_message(self, event: dict[str, Any]) -> None:
        """A push from the channel layer (apps/notifications/push.py): relay it as is."""
        await self._send(event["message"])
