"""The outbox relay: publishes committed outbox rows of every context to their Redis streams.

Publishing and marking happen in one transaction per batch with the rows locked (SKIP LOCKED on
PostgreSQL), so two relays never publish the same batch; a crash between XADD and commit republishes
the batch, which the consumers' inboxes absorb (at-least-once delivery, exactly-once effect).
"""

from __future__ import annotations

import logging
import threading

import redis
from django.conf import settings
from django.db import router, transaction
from django.utils import timezone

from apps.kernel.outbox import OutboxEventBase, outbox_models
from apps.kernel.streams import stream_for

logger = logging.getLogger(__name__)


def relay_publish_outbox(*, outbox: type[OutboxEventBase], client: redis.Redis, batch_size: int = 100) -> int:
    """Publish one batch of one outbox; returns how many events left it."""
    alias = router.db_for_write(outbox)
    with transaction.atomic(using=alias):
        rows = list(
            outbox._default_manager.using(alias)
            .select_for_update(skip_locked=True)
            .filter(published_at__isnull=True)
            .order_by("seq")[:batch_size]
        )
        if not rows:
            return 0
        pipe = client.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(
                stream_for(row.topic),
                {"envelope": row.envelope().to_json()},
                maxlen=settings.EVENTS_STREAM_MAXLEN,
                approximate=True,
            )
        pipe.execute()
        outbox._default_manager.using(alias).filter(seq__in=[row.seq for row in rows]).update(
            published_at=timezone.now()
        )
    return len(rows)


def relay_publish_pending(*, client: redis.Redis, batch_size: int = 100) -> int:
    """Publish one batch from every context's outbox."""
    return sum(relay_publish_outbox(outbox=model, client=client, batch_size=batch_size) for model in outbox_models())


def relay_run(*, client: redis.Redis, stop: threading.Event, interval: float = 0.5, batch_size: int = 100) -> None:
    """Drain the outboxes until `stop` is set; a failing Redis or database is retried with backoff."""
    delay = interval
    while not stop.is_set():
        try:
            published = relay_publish_pending(client=client, batch_size=batch_size)
        except Exception:
            logger.exception("outbox relay failed; retrying in %.1fs", delay)
            stop.wait(delay)
            delay = min(delay * 2, 30.0)
            continue
        delay = interval
        if published < batch_size:
            stop.wait(interval)
