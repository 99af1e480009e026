"""The outbox relay: publishes committed outbox rows of every context to their Redis streams.

Publishing and marking happen in one transaction per batch with the rows locked (SKIP LOCKED on
PostgreSQL), so two relays never publish the same batch; a crash between XADD and commit republishes
the batch, which the consumers' inboxes absorb (at-least-once delivery, exactly-once effect). Each
context's outbox is drained on its own: one database being down never stops the others.
"""

from __future__ import annotations

import logging
import threading

import redis
from django.conf import settings
from django.db import close_old_connections, router, transaction
from django.utils import timezone

from apps.kernel.envelope import wire_json
from apps.kernel.outbox import OutboxEventBase, outbox_models
from apps.kernel.streams import stream_for

logger = logging.getLogger(__name__)


def _wire(row: OutboxEventBase) -> str:
    """The envelope as stored, without re-validating it: the relay forwards, consumers judge."""
    return wire_json(
        {
            "id": str(row.event_id),
            "type": row.topic,
            "version": row.version,
            "occurred_at": row.occurred_at.isoformat(),
            "source": row.source,
            "aggregate_id": row.aggregate_id,
            "payload": row.payload,
            "request_id": row.request_id or None,
        }
    )


def relay_publish_outbox(*, outbox: type[OutboxEventBase], client: redis.Redis, batch_size: int = 100) -> int:
    """Publish one batch of one outbox; returns how many events left it."""
    alias = router.db_for_write(outbox)
    pending = outbox._default_manager.using(alias).filter(published_at__isnull=True)
    if not pending.exists():  # no write transaction (a database-wide lock on SQLite) when idle
        return 0
    with transaction.atomic(using=alias):
        rows = list(pending.select_for_update(skip_locked=True).order_by("seq")[:batch_size])
        if not rows:
            return 0
        pipe = client.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(
                stream_for(row.topic),
                {"envelope": _wire(row)},
                maxlen=settings.EVENTS_STREAM_MAXLEN,
                approximate=True,
            )
        pipe.execute()
        outbox._default_manager.using(alias).filter(seq__in=[row.seq for row in rows]).update(
            published_at=timezone.now()
        )
    return len(rows)


def relay_publish_pending(*, client: redis.Redis, batch_size: int = 100) -> tuple[int, int]:
    """Publish one batch from every context's outbox; returns (events published, outboxes that failed)."""
    published = failed = 0
    for model in outbox_models():
        try:
            published += relay_publish_outbox(outbox=model, client=client, batch_size=batch_size)
        except Exception:
            failed += 1
            logger.exception("outbox relay failed for %s; the other contexts go on", model._meta.label)
            close_old_connections()  # drop a connection the failure left unusable (SQLite's stay usable)
    return published, failed


def relay_run(*, client: redis.Redis, stop: threading.Event, interval: float = 0.5, batch_size: int = 100) -> None:
    """Drain the outboxes until `stop` is set, backing off while anything fails."""
    delay = interval
    while not stop.is_set():
        published, failed = relay_publish_pending(client=client, batch_size=batch_size)
        if failed:
            stop.wait(delay)
            delay = min(delay * 2, 30.0)
            continue
        delay = interval
        if published == 0:
            stop.wait(interval)
