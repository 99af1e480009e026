"""Transactional outbox and inbox: abstract tables each context instantiates in its own database.

An event is written into the producing context's outbox inside the same transaction as the change it
describes, so either both commit or neither does. A consumer records the event id in its context's inbox
inside the same transaction as its effect, so a redelivered event has no second effect.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import models, router, transaction
from django.utils import timezone

from apps.kernel.envelope import Envelope
from apps.kernel.request_id import request_id_get


class OutboxUsageError(RuntimeError):
    """An event was recorded outside a transaction on the outbox's own database."""


class OutboxEventBase(models.Model):
    seq = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True, editable=False)
    topic = models.CharField(max_length=64)
    version = models.PositiveSmallIntegerField()
    source = models.CharField(max_length=32)
    aggregate_id = models.CharField(max_length=64)
    payload = models.JSONField()
    request_id = models.CharField(max_length=128, blank=True, default="")
    occurred_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        indexes = [
            models.Index(
                fields=["seq"], condition=models.Q(published_at__isnull=True), name="%(app_label)s_outbox_pending"
            )
        ]


class InboxEntryBase(models.Model):
    consumer = models.CharField(max_length=100)
    event_id = models.UUIDField()
    processed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
        constraints = [models.UniqueConstraint(fields=["consumer", "event_id"], name="%(app_label)s_inbox_once")]


def outbox_record(
    *,
    outbox: type[OutboxEventBase],
    topic: str,
    aggregate_id: str | int,
    payload: dict[str, Any],
    version: int = 1,
) -> Envelope:
    """Append an event to a context's outbox; refuses to run outside a transaction on that outbox's alias."""
    alias = router.db_for_write(outbox)
    if not transaction.get_connection(alias).in_atomic_block:
        raise OutboxUsageError(
            f"outbox_record for {outbox._meta.label} must run inside transaction.atomic(using={alias!r}) "
            "so the event commits or rolls back with the change it describes"
        )
    envelope = Envelope(
        type=topic,
        version=version,
        source=outbox._meta.app_label,
        aggregate_id=str(aggregate_id),
        payload=payload,
        request_id=request_id_get(),
    )
    outbox._default_manager.using(alias).create(
        event_id=envelope.id,
        topic=envelope.type,
        version=envelope.version,
        source=envelope.source,
        aggregate_id=envelope.aggregate_id,
        payload=envelope.payload,
        request_id=envelope.request_id or "",
        occurred_at=envelope.occurred_at,
    )
    return envelope


def outbox_models() -> list[type[OutboxEventBase]]:
    """Every concrete outbox of the installed contexts: the relay drains each of them."""
    return [model for model in apps.get_models() if issubclass(model, OutboxEventBase)]
