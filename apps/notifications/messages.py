"""The JSON shapes of the notifications context: a notification as the API lists it and the socket pushes it
(one definition, so a pushed notification equals the listed one), and the socket's other messages.

Socket messages are `{"type": ..., "data": {...}}`: `notification`, `job.status`, `read` (ids marked read, and
the unread count after), `synced` (end of a `?since=` catch-up), `ping`/`pong`, `error`.
"""

from __future__ import annotations

from typing import Any

from apps.kernel.timestamps import timestamp
from apps.notifications.models import Notification


def notification_body(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.pk,
        "type": notification.type,
        "title": notification.title,
        "message": notification.message,
        "data": notification.data,
        "priority": notification.priority,
        "created_at": timestamp(notification.created_at),
        "read_at": timestamp(notification.read_at),
        "is_read": notification.read_at is not None,
    }


def socket_message(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "data": data}


def notification_message(notification: Notification) -> dict[str, Any]:
    return socket_message("notification", notification_body(notification))


def job_status_message(*, job_id: str, status: str, stage: str | None, progress: int | None) -> dict[str, Any]:
    return socket_message("job.status", {"job_id": job_id, "status": status, "stage": stage, "progress": progress})


def read_message(*, ids: list[int] | None, unread_count: int) -> dict[str, Any]:
    """`ids` None means every notification of the user was marked read."""
    return socket_message("read", {"ids": ids, "all": ids is None, "unread_count": unread_count})


def error_message(code: str, message: str) -> dict[str, Any]:
    return socket_message("error", {"code": code, "message": message})
