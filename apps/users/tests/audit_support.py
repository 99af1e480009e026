"""Building blocks of the audit log tests: events as other contexts would publish them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.utils import timezone

from apps.kernel.envelope import USER_ACTION_LOGGED, Envelope

DROP: Any = object()  # as a payload value: leave that field out of the event entirely


def envelope_make(
    *,
    source: str = "users",
    request_id: str | None = "req-audit-test-1",
    occurred_at: datetime | None = None,
    event_id: uuid.UUID | None = None,
    **payload: Any,
) -> Envelope:
    """A user.action.logged event; payload fields default to a login of user 7 and can be overridden or dropped
    (pass `field=DROP`)."""
    body: dict[str, Any] = {
        "actor_id": 7,
        "action": "login",
        "resource_type": "user",
        "resource_id": "7",
        "ip": "192.0.2.10",
        "user_agent": "pytest-agent/1.0",
        "details": {},
        **payload,
    }
    return Envelope(
        type=USER_ACTION_LOGGED,
        source=source,
        aggregate_id=str(body.get("resource_id") or "anonymous"),
        payload={name: value for name, value in body.items() if value is not DROP},
        id=event_id or uuid.uuid4(),
        occurred_at=occurred_at or timezone.now(),
        request_id=request_id,
    )
