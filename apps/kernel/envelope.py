"""The event envelope every context publishes and consumes (ARCHITECTURE.md §5)."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

JOB_STATUS_UPDATED = "job.status.updated"
FILE_UPLOAD_COMPLETED = "file.upload.completed"
SERVICE_HEALTH_CHANGED = "service.health.changed"
USER_ACTION_LOGGED = "user.action.logged"
NOTIFICATION_SEND = "notification.send"

TOPICS = frozenset(
    {JOB_STATUS_UPDATED, FILE_UPLOAD_COMPLETED, SERVICE_HEALTH_CHANGED, USER_ACTION_LOGGED, NOTIFICATION_SEND}
)


def wire_json(data: dict[str, Any]) -> str:
    """The one JSON form of an envelope on the bus (compact, keys sorted)."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


class EnvelopeError(ValueError):
    """A message on the bus is not a valid envelope; retrying it cannot help."""


@dataclass(frozen=True)
class Envelope:
    """One event: small, versioned, carrying ids and changed fields rather than whole aggregates."""

    type: str
    source: str
    aggregate_id: str
    payload: dict[str, Any]
    version: int = 1
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: datetime = field(default_factory=timezone.now)
    request_id: str | None = None

    def __post_init__(self) -> None:
        if self.type not in TOPICS:
            raise EnvelopeError(f"unknown event type {self.type!r}; known types: {', '.join(sorted(TOPICS))}")
        if self.occurred_at.tzinfo is None:
            raise EnvelopeError("occurred_at must carry a time zone")
        if self.version < 1:
            raise EnvelopeError(f"event version must be >= 1, got {self.version}")

    def to_json(self) -> str:
        data = asdict(self)
        data["id"] = str(self.id)
        data["occurred_at"] = self.occurred_at.isoformat()
        return wire_json(data)

    @classmethod
    def from_json(cls, raw: str) -> Envelope:
        try:
            data = json.loads(raw)
            return cls(
                id=uuid.UUID(data["id"]),
                type=data["type"],
                version=int(data["version"]),
                occurred_at=datetime.fromisoformat(data["occurred_at"]),
                source=data["source"],
                aggregate_id=str(data["aggregate_id"]),
                payload=dict(data["payload"]),
                request_id=data.get("request_id"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EnvelopeError(f"malformed envelope: {exc}") from exc
