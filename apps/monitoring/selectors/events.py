"""How far behind the event path is: unpublished rows in each context's outbox, messages each consumer group has
read but not acknowledged (pending) or not read yet (lag), and parked dead letters.

The outboxes are the kernel's abstract table, instantiated by every context in its own database; reading their
backlog is the relay's view of them, not a look into another context's data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
from django.db import router
from django.db.models import Count, Min
from django.utils import timezone

from apps.kernel.consumers import Consumer, registered_consumers
from apps.kernel.outbox import OutboxEventBase, outbox_models
from apps.kernel.streams import dead_letter_stream


@dataclass(frozen=True)
class OutboxBacklog:
    context: str
    pending: int | None  # None: its database did not answer
    oldest_seconds: float | None
    error: str = ""


@dataclass(frozen=True)
class ConsumerLag:
    consumer: str
    topic: str
    pending: int | None  # delivered, not acknowledged; None: Redis did not answer
    lag: int | None  # not delivered yet (Redis 7+ reports it; None before, or when unknown)
    error: str = ""


@dataclass(frozen=True)
class EventLag:
    outboxes: list[OutboxBacklog] = field(default_factory=list)
    consumers: list[ConsumerLag] = field(default_factory=list)
    dead_letters: int | None = None

    def as_data(self) -> dict[str, Any]:
        return {
            "outboxes": {
                o.context: {
                    "pending": o.pending,
                    "oldest_seconds": o.oldest_seconds,
                    **({"error": o.error} if o.error else {}),
                }
                for o in self.outboxes
            },
            "consumers": {
                c.consumer: {"pending": c.pending, "lag": c.lag, **({"error": c.error} if c.error else {})}
                for c in self.consumers
            },
            "dead_letters": self.dead_letters,
        }


def outbox_backlog(*, outbox: type[OutboxEventBase], now: datetime | None = None) -> OutboxBacklog:
    now = now or timezone.now()
    context = outbox._meta.app_label
    try:
        alias = router.db_for_write(outbox)
        found = (
            outbox._default_manager.using(alias)
            .filter(published_at__isnull=True)
            .aggregate(pending=Count("seq"), oldest=Min("occurred_at"))
        )
    except Exception as exc:  # a database that is down is the database check's finding; here it is unknown
        return OutboxBacklog(context, None, None, f"{type(exc).__name__}: {exc}"[:300])
    oldest = found["oldest"]
    return OutboxBacklog(context, int(found["pending"]), (now - oldest).total_seconds() if oldest else None)


def consumers_lag(*, client: redis.Redis, consumers: Iterable[Consumer]) -> list[ConsumerLag]:
    """One XINFO GROUPS per stream; a stream that does not exist yet has nothing pending."""
    by_stream: dict[str, list[Consumer]] = {}
    for c in consumers:
        by_stream.setdefault(c.stream, []).append(c)
    found: list[ConsumerLag] = []
    for stream, members in by_stream.items():
        try:
            groups = {str(g["name"]): g for g in client.xinfo_groups(stream)}
        except redis.ResponseError as exc:
            if "no such key" not in str(exc).lower():
                raise
            groups = {}
        for c in members:
            group = groups.get(c.name)
            if group is None:
                found.append(ConsumerLag(c.name, c.topic, 0, None))
                continue
            lag = group.get("lag")
            found.append(
                ConsumerLag(c.name, c.topic, int(group.get("pending") or 0), None if lag is None else int(lag))
            )
    return sorted(found, key=lambda lag: lag.consumer)


def event_lag(
    *,
    client: redis.Redis,
    outboxes: Iterable[type[OutboxEventBase]] | None = None,
    consumers: Iterable[Consumer] | None = None,
) -> EventLag:
    """Every context's outbox and every registered consumer, unless told which; Redis errors propagate."""
    now = timezone.now()
    backlogs = [outbox_backlog(outbox=model, now=now) for model in (outbox_models() if outboxes is None else outboxes)]
    lags = consumers_lag(client=client, consumers=registered_consumers() if consumers is None else consumers)
    return EventLag(
        outboxes=sorted(backlogs, key=lambda b: b.context),
        consumers=lags,
        dead_letters=int(client.xlen(dead_letter_stream())),
    )
