"""Helpers of the users API tests: signed-in headers without a login, the other verbs, grants and groups, bodies."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from django.test import Client

from apps.users.models import OutboxEvent, ServiceGroup, ServiceGroupMembership, ServicePermissionGrant, User
from apps.users.tests.factories import bearer
from apps.users.tokens import token_pair_issue


def auth(user: User) -> dict[str, str]:
    """Bearer headers of a fresh access token (no login, so the per-address login lockout never counts)."""
    return bearer(token_pair_issue(user=user).access)


def patch(client: Client, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.patch(path, json.dumps(body), content_type="application/json", headers=headers)


def delete(client: Client, path: str, headers: dict[str, str]) -> Any:
    return client.delete(path, headers=headers)


def grant_make(
    *, user: User, service_id: int, permission: str, expires_at: datetime | None = None
) -> ServicePermissionGrant:
    return ServicePermissionGrant.objects.create(
        user=user, service_id=service_id, permission=permission, expires_at=expires_at
    )


def group_make(
    *, service_id: int, permissions: list[str], members: tuple[User, ...] = (), name: str = ""
) -> ServiceGroup:
    group = ServiceGroup.objects.create(
        name=name or f"group-{uuid.uuid4().hex[:8]}", service_id=service_id, permissions=permissions
    )
    for member in members:
        ServiceGroupMembership.objects.create(group=group, user=member)
    return group


def last_event() -> dict[str, Any]:
    """The payload of the newest event in the users outbox."""
    return OutboxEvent.objects.order_by("-seq").first().payload  # type: ignore[union-attr]


def event_of(action: str) -> dict[str, Any]:
    """The payload of the oldest event in the users outbox recording `action`."""
    return next(e.payload for e in OutboxEvent.objects.order_by("seq") if e.payload["action"] == action)


def refused(code: str, message: str) -> dict[str, Any]:
    """The error envelope's `error` member; callers compare it and check the body holds nothing else."""
    return {"code": code, "message": message}


def profile_body(**changes: Any) -> dict[str, Any]:
    """A profile as the API shows it: the defaults, with `changes` applied."""
    body: dict[str, Any] = {
        "organization": "",
        "institution": "",
        "country": "",
        "timezone": "UTC",
        "email_notifications": True,
        "quotas": {"monthly_jobs": 100, "storage_bytes": 50 * 1024**3},
    }
    quotas = {key: changes.pop(key) for key in ("monthly_jobs", "storage_bytes") if key in changes}
    body.update(changes)
    body["quotas"] = {**body["quotas"], **quotas}
    return body
