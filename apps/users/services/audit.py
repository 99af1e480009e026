"""Writes of the users context about the audit log: turning `user.action.logged` events into entries.

Any context may publish these events, so the recorder trusts only the envelope's shape: a payload without an
action is malformed and refused, while a bad optional field (an unparseable address, an over-long user agent)
is stored as best it can be and noted under `details["_recorder"]`, so one sloppy producer never loses a trail.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.db import models

from apps.kernel.envelope import USER_ACTION_LOGGED, Envelope, EnvelopeError
from apps.users.models import DB, AuditLogEntry

RECORDER_NOTES = "_recorder"  # the key of details under which the recorder says what it had to change
_BIGINT = range(-(2**63), 2**63)
_NOTE_KEPT = 64  # characters of an unusable raw value kept in its note


def _column_size(name: str) -> int:
    field = AuditLogEntry._meta.get_field(name)
    assert isinstance(field, models.CharField) and field.max_length is not None
    return field.max_length


def _text(value: Any, *, field: str, notes: dict[str, Any]) -> str:
    """A column's text: None is empty, other scalars are spelled out, and what does not fit is cut to size."""
    text = "" if value is None else str(value).replace("\x00", "")  # PostgreSQL text refuses NUL
    size = _column_size(field)
    if len(text) > size:
        notes.setdefault("truncated", []).append(field)
        text = text[:size]
    return text


def _action(payload: dict[str, Any]) -> str:
    action = payload.get("action")
    if not isinstance(action, str) or not action.strip():
        raise EnvelopeError(f"a {USER_ACTION_LOGGED} event needs a non-empty string 'action', got {action!r}")
    return action.strip()


def _actor_id(value: Any, notes: dict[str, Any]) -> int | None:
    """Ids arrive as JSON numbers or digit strings; anything else cannot name an account and is noted."""
    if value is None or value == "":
        return None
    if not isinstance(value, bool):
        try:
            actor_id = int(value)
        except (TypeError, ValueError, OverflowError):
            pass
        else:
            if actor_id in _BIGINT and (not isinstance(value, float) or value.is_integer()):
                return actor_id
    notes["invalid_actor_id"] = str(value)[:_NOTE_KEPT]
    return None


def _ip(value: Any, notes: dict[str, Any]) -> str | None:
    """A normalised address, or None with the raw value noted: a bad address must not cost the entry."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError:
            pass
        else:
            if isinstance(address, ipaddress.IPv6Address):
                address = ipaddress.IPv6Address(int(address))  # drop a zone id ("%eth0"): no column type keeps it
            return str(address)
    notes["invalid_ip"] = str(value)[:_NOTE_KEPT]
    return None


def _details(value: Any, notes: dict[str, Any]) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    notes["details_not_an_object"] = True
    return {"value": value}


def audit_entry_record(*, envelope: Envelope) -> AuditLogEntry | None:
    """Record one event; None when this event is already in the log (a redelivery writes nothing).

    Raises EnvelopeError for an event no retry can fix (wrong type, no action), so it is parked, not retried.
    Runs in the caller's transaction when there is one (the consumer runner's, with its inbox row).
    """
    if envelope.type != USER_ACTION_LOGGED:
        raise EnvelopeError(f"the audit log records {USER_ACTION_LOGGED} events, not {envelope.type!r}")
    payload = envelope.payload
    action = _action(payload)
    notes: dict[str, Any] = {}
    fields = {
        "occurred_at": envelope.occurred_at,
        "source": _text(envelope.source, field="source", notes=notes),
        "actor_id": _actor_id(payload.get("actor_id"), notes),
        "action": _text(action, field="action", notes=notes),
        "resource_type": _text(payload.get("resource_type"), field="resource_type", notes=notes),
        "resource_id": _text(payload.get("resource_id"), field="resource_id", notes=notes),
        "ip": _ip(payload.get("ip"), notes),
        "user_agent": _text(payload.get("user_agent"), field="user_agent", notes=notes),
        "request_id": _text(envelope.request_id, field="request_id", notes=notes),
    }
    details = _details(payload.get("details"), notes)
    if notes:
        details[RECORDER_NOTES] = notes
    # get_or_create inserts under a savepoint and re-reads on a unique-key race, so a concurrent duplicate is a no-op
    entry, created = AuditLogEntry.objects.using(DB).get_or_create(
        event_id=envelope.id, defaults={**fields, "details": details}
    )
    return entry if created else None
