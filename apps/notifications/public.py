"""The notifications context's public interface: what other contexts may import to have users notified.

Other contexts never call the notifications context: they record a `notification.send` event in their own
outbox, in the transaction of the change that warrants it (apps.kernel.outbox.outbox_record), with a payload
built by `notification_send_payload`. The notifications context turns it into one notification per user,
pushed to open sockets and e-mailed as each user's preferences say.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models

from apps.kernel.envelope import NOTIFICATION_SEND

__all__ = ["NOTIFICATION_SEND", "NotificationType", "Priority", "notification_send_payload"]

TITLE_MAX = 200
USERS_MAX = 10_000  # one event; a larger audience is several events


class NotificationType(models.TextChoices):
    JOB_UPDATE = "job_update", "Job updates"
    SERVICE_ALERT = "service_alert", "Service alerts"
    SECURITY = "security", "Security"
    SYSTEM = "system", "System"


class Priority(models.TextChoices):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"  # e-mailed even in the recipient's quiet hours


def notification_send_payload(
    *,
    user_ids: Iterable[int],
    type: str,
    title: str,
    message: str = "",
    data: Mapping[str, Any] | None = None,
    priority: str = Priority.NORMAL,
) -> dict[str, Any]:
    """The payload of a `notification.send` event; ValueError names what is wrong, so a producer fails at once
    rather than its event being parked by the consumer."""
    ids = sorted({int(user_id) for user_id in user_ids})
    if not ids or len(ids) > USERS_MAX or ids[0] < 1:
        raise ValueError(f"user_ids must name 1 to {USERS_MAX} users by positive id")
    if type not in NotificationType.values:
        raise ValueError(f"type must be one of {', '.join(NotificationType.values)}, not {type!r}")
    if priority not in Priority.values:
        raise ValueError(f"priority must be one of {', '.join(Priority.values)}, not {priority!r}")
    if not isinstance(title, str) or not title.strip() or len(title) > TITLE_MAX:
        raise ValueError(f"title must be a non-blank string of at most {TITLE_MAX} characters")
    if not isinstance(message, str):
        raise ValueError("message must be a string")
    if data is not None and not isinstance(data, Mapping):
        raise ValueError("data must be a JSON object")
    return {
        "user_ids": ids,
        "type": str(type),
        "title": title.strip(),
        "message": message,
        "data": dict(data or {}),
        "priority": str(priority),
    }
