"""Event consumers: a registry, a runner over Redis consumer groups, and the dead-letter stream.

Each consumer is its own consumer group on its topic's stream. A message is applied inside one
transaction on the consumer's database together with an inbox row keyed by (consumer, event id), and
acknowledged only after that commit. A runner that dies before acknowledging leaves the message pending;
any runner reclaims it after `reclaim_idle_ms`, finds it in the inbox and acknowledges it without a second
effect. A message that keeps failing is moved to the dead-letter stream after `max_deliveries` attempts.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis
from django.db import IntegrityError, router, transaction
from django.utils import timezone

from apps.kernel.envelope import TOPICS, Envelope, EnvelopeError
from apps.kernel.outbox import InboxEntryBase
from apps.kernel.request_id import request_id_bound
from apps.kernel.streams import dead_letter_stream, stream_for

logger = logging.getLogger(__name__)

Handler = Callable[[Envelope], None]


@dataclass(frozen=True)
class Consumer:
    """A named reaction to one topic; `name` is "<context>.<purpose>" and doubles as the consumer group."""

    name: str
    topic: str
    handler: Handler
    inbox: type[InboxEntryBase]

    def __post_init__(self) -> None:
        context = self.inbox._meta.app_label
        if not self.name.startswith(f"{context}."):
            raise ValueError(f"consumer {self.name!r} must be named '{context}.<purpose>' after its inbox's context")
        if self.topic not in TOPICS:
            raise ValueError(f"consumer {self.name!r} listens to unknown topic {self.topic!r}")

    @property
    def alias(self) -> str:
        return router.db_for_write(self.inbox)

    @property
    def stream(self) -> str:
        return stream_for(self.topic)


_registry: dict[str, Consumer] = {}


def consumer(*, name: str, topic: str, inbox: type[InboxEntryBase]) -> Callable[[Handler], Handler]:
    """Register the decorated function as a consumer; contexts declare theirs in `<ctx>/consumers.py`."""

    def register(handler: Handler) -> Handler:
        if name in _registry:
            raise ValueError(f"consumer {name!r} is registered twice")
        _registry[name] = Consumer(name=name, topic=topic, handler=handler, inbox=inbox)
        return handler

    return register


def registered_consumers() -> list[Consumer]:
    return list(_registry.values())


class ConsumerRunner:
    """Runs a set of consumers in one process; safe to run several processes side by side."""

    def __init__(
        self,
        consumers: Iterable[Consumer],
        *,
        client: redis.Redis,
        worker_name: str | None = None,
        batch_size: int = 20,
        reclaim_idle_ms: int = 30_000,
        max_deliveries: int = 5,
    ) -> None:
        self.consumers = list(consumers)
        self.client = client
        self.worker_name = worker_name or f"{socket.gethostname()}-{threading.get_native_id()}"
        self.batch_size = batch_size
        self.reclaim_idle_ms = reclaim_idle_ms
        self.max_deliveries = max_deliveries
        self._last_error: dict[tuple[str, str], str] = {}

    def ensure_groups(self) -> None:
        for c in self.consumers:
            try:
                self.client.xgroup_create(c.stream, c.name, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def run_once(self) -> int:
        """Retry or dead-letter stuck messages, then read new ones; returns how many messages were handled."""
        handled = 0
        for c in self.consumers:
            handled += self._reclaim(c)
            entries = self.client.xreadgroup(c.name, self.worker_name, {c.stream: ">"}, count=self.batch_size)
            for _stream, messages in entries or []:
                for message_id, fields in messages:
                    self._handle(c, message_id, fields)
                    handled += 1
        return handled

    def run_forever(self, stop: threading.Event, idle_sleep: float = 0.2) -> None:
        self.ensure_groups()
        while not stop.is_set():
            try:
                if self.run_once() == 0:
                    stop.wait(idle_sleep)
            except redis.RedisError:
                logger.exception("event bus unreachable; retrying in 2s")
                stop.wait(2.0)

    def _reclaim(self, c: Consumer) -> int:
        pending = self.client.xpending_range(
            c.stream, c.name, min="-", max="+", count=self.batch_size, idle=self.reclaim_idle_ms
        )
        handled = 0
        for entry in pending:
            message_id = entry["message_id"]
            if entry["times_delivered"] >= self.max_deliveries:
                self._dead_letter(c, message_id, deliveries=entry["times_delivered"])
                continue
            claimed = self.client.xclaim(c.stream, c.name, self.worker_name, self.reclaim_idle_ms, [message_id])
            for claimed_id, fields in claimed:
                if fields is None:  # trimmed from the stream while pending: nothing left to apply
                    self.client.xack(c.stream, c.name, claimed_id)
                    continue
                self._handle(c, claimed_id, fields)
                handled += 1
        return handled

    def _handle(self, c: Consumer, message_id: str, fields: dict[str, Any]) -> None:
        try:
            envelope = Envelope.from_json(fields.get("envelope", ""))
        except EnvelopeError as exc:
            self._last_error[(c.name, message_id)] = str(exc)
            self._dead_letter(c, message_id, deliveries=1, fields=fields)
            return
        try:
            self._apply(c, envelope)
        except Exception as exc:
            self._last_error[(c.name, message_id)] = f"{type(exc).__name__}: {exc}"
            logger.exception("consumer %s failed on event %s (%s)", c.name, envelope.id, message_id)
            return
        self._ack(c, message_id)

    def _apply(self, c: Consumer, envelope: Envelope) -> None:
        inbox = c.inbox._default_manager.using(c.alias)
        if inbox.filter(consumer=c.name, event_id=envelope.id).exists():
            return
        try:
            with request_id_bound(envelope.request_id), transaction.atomic(using=c.alias):
                inbox.create(consumer=c.name, event_id=envelope.id)
                c.handler(envelope)
        except IntegrityError:
            if not inbox.filter(consumer=c.name, event_id=envelope.id).exists():
                raise
            # another runner applied it concurrently; its commit won

    def _ack(self, c: Consumer, message_id: str) -> None:
        self.client.xack(c.stream, c.name, message_id)
        self._last_error.pop((c.name, message_id), None)

    def _dead_letter(
        self, c: Consumer, message_id: str, *, deliveries: int, fields: dict[str, Any] | None = None
    ) -> None:
        if fields is None:
            found = self.client.xrange(c.stream, min=message_id, max=message_id)
            fields = found[0][1] if found else {}
        error = self._last_error.pop((c.name, message_id), "unknown error (failed in another runner)")
        self.client.xadd(
            dead_letter_stream(),
            {
                "stream": c.stream,
                "consumer": c.name,
                "message_id": message_id,
                "envelope": fields.get("envelope", ""),
                "error": error,
                "deliveries": str(deliveries),
                "dead_at": timezone.now().isoformat(),
            },
        )
        self.client.xack(c.stream, c.name, message_id)
        logger.error("consumer %s parked message %s after %d deliveries: %s", c.name, message_id, deliveries, error)


def dead_letter_list(*, client: redis.Redis, count: int = 100) -> list[tuple[str, dict[str, str]]]:
    """The oldest parked messages, as (dead-letter id, fields)."""
    return list(client.xrange(dead_letter_stream(), count=count))


def dead_letter_replay(*, client: redis.Redis, dead_id: str) -> str:
    """Put a parked message back on its stream (consumers that already applied it skip it via their inbox)."""
    found = client.xrange(dead_letter_stream(), min=dead_id, max=dead_id)
    if not found:
        raise KeyError(f"no dead letter {dead_id}")
    fields = found[0][1]
    new_id = client.xadd(fields["stream"], {"envelope": fields["envelope"]})
    client.xdel(dead_letter_stream(), dead_id)
    return str(new_id)
