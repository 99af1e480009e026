"""The `user.action.logged` events of the users context: what every audited change records, and from where.

Each change records its event in the same transaction on the `users` alias, so the audit trail has an entry
exactly when the change committed. Payloads carry who, what, from where (address, user agent, request id on
the envelope) and never a password or a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from apps.kernel.envelope import USER_ACTION_LOGGED
from apps.kernel.outbox import outbox_record
from apps.users.models import OutboxEvent

USER_AGENT_MAX = 256


@dataclass(frozen=True)
class ClientInfo:
    """Where a request came from, as recorded in audit events (the same address the gateway rate-limits)."""

    ip: str = ""
    user_agent: str = ""

    @classmethod
    def of(cls, request: HttpRequest) -> ClientInfo:
        return cls(
            ip=request.META.get("REMOTE_ADDR", ""),
            user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_MAX],
        )


def user_action_record(
    *,
    action: str,
    actor_id: int | None,
    client: ClientInfo,
    resource_type: str = "user",
    resource_id: int | str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """One audit event; must run inside the transaction of the change it describes.

    Without a resource the actor's own account is the resource (a login is about the user who logged in).
    """
    target = resource_id if resource_id is not None else actor_id
    outbox_record(
        outbox=OutboxEvent,
        topic=USER_ACTION_LOGGED,
        aggregate_id=target if target is not None else "anonymous",
        payload={
            "actor_id": actor_id,
            "action": action,
            "resource_type": resource_type if resource_id is not None else "user",
            "resource_id": None if target is None else str(target),
            "ip": client.ip,
            "user_agent": client.user_agent,
            "details": details or {},
        },
    )
