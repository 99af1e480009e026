"""Reads of the users context about the audit log."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from apps.users.models import DB, AuditLogEntry, User


def audit_entry_list(
    *,
    user: User | int | None = None,
    action: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[AuditLogEntry]:
    """Entries newest first; `user` is the actor (an account or its id), `start` and `end` bound occurred_at
    inclusively. The order is total (id breaks ties), so pages never repeat or skip an entry."""
    entries = AuditLogEntry.objects.using(DB).all()
    if user is not None:
        entries = entries.filter(actor_id=user.pk if isinstance(user, User) else user)
    if action is not None:
        entries = entries.filter(action=action)
    if resource_type is not None:
        entries = entries.filter(resource_type=resource_type)
    if resource_id is not None:
        entries = entries.filter(resource_id=resource_id)
    if start is not None:
        entries = entries.filter(occurred_at__gte=start)
    if end is not None:
        entries = entries.filter(occurred_at__lte=end)
    return entries.order_by("-occurred_at", "-id")
