"""Event consumers: a registry, a runner over Redis consumer groups, and the dead-letter stream.

Each consumer is its own consumer group on its topic's stream. A message is applied inside one
transaction on the consumer's database together with an inbox row keyed by (consumer, event id), and
acknowledged only after that commit. A runner that dies before acknowledging leaves the message pending;
any runner reclaims it after `reclaim_idle_ms`, finds it in the inbox and acknowledges it without a second
effect. A message that keeps failing is moved to the dead-letter stream after `max_deliveries` attempts (at
once when it is not a valid envelope, or its handler raises EnvelopeError over the payload), and replaying it
re-applies it for that one consumer only.

The inbox makes database effects exactly-once; a handler with effects outside its database (e-mail, HTTP)
must make them idempotent itself, and one running longer than `reclaim_idle_ms` may be run twice.
Database outages are not held against a message: they stop the round and the runner backs off.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis
from django.db import IntegrityError, InterfaceError, OperationalError, close_old_connections, router, transaction
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
    from_start: bool = True  # a new consumer first works through the events the stream still holds

    def __post_init__(self) -> None:
        context = self.inbox._meta.app_label
        if not self.name.startswith(f"{context}."):
            raise ValueError(f"consumer {self.name!r} must be named '{context}.<purpose>' after its inbox's context")
        if self.topic not in TOPICS:
            raise ValueError(f"consumer {self.name!r} listens to unknown topic {self.topic!r}")

    @property
    def alias(self) -> str:
        """The consumer's own database: its inbox and its effects share one transaction there."""
        return router.db_for_write(self.inbox)

    @property
    def stream(self) -> str:
        return stream_for(self.topic)


_registry: dict[str, Consumer] = {}


def consumer(
    *, name: str, topic: str, inbox: type[InboxEntryBase], from_start: bool = True
) -> Callable[[Handler], Handler]:
    """Register the decorated function as a consumer; contexts declare theirs in `<ctx>/consumers.py`,
    which the kernel app imports at start-up."""

    def register(handler: Handler) -> Handler:
        if name in _registry:
            raise ValueError(f"consumer {name!r} is registered twice")
        _registry[name] = Consumer(name=name, topic=topic, handler=handler, inbox=inbox, from_start=from_start)
        return handler

    return register


def registered_consumers() -> list[Consumer]:
    """Every consumer the installed contexts declared."""
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
        self._last_error: OrderedDict[tuple[str, str], str] = OrderedDict()

    def ensure_groups(self) -> None:
        for c in self.consumers:
            try:
                self.client.xgroup_create(c.stream, c.name, id="0" if c.from_start else "$", mkstream=True)
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
        delay = 1.0
        groups_ready = False
        while not stop.is_set():
            try:
                if not groups_ready:
                    self.ensure_groups()
                    groups_ready = True
                handled = self.run_once()
            except redis.ResponseError as exc:
                groups_ready = "NOGROUP" not in str(exc)  # Redis lost its data: recreate the groups
                logger.exception("event bus refused a command; retrying in %.0fs", delay)
            except redis.RedisError:
                logger.exception("event bus unreachable; retrying in %.0fs", delay)
            except (OperationalError, InterfaceError):
                close_old_connections()  # drop a broken connection (SQLite's stay usable); the next round reconnects
                logger.exception("a consumer database is unavailable; retrying in %.0fs", delay)
            else:
                delay = 1.0
                if handled == 0:
                    stop.wait(idle_sleep)
                continue
            stop.wait(delay)
            delay = min(delay * 2, 30.0)

    def _reclaim(self, c: Consumer) -> int:
        pending = self.client.xpending_range(
            c.stream, c.name, min="-", max="+", count=self.batch_size, idle=self.reclaim_idle_ms
        )
        handled = 0
        for entry in pending:
            # claiming first makes this runner the only one acting on the message (the claim resets idleness)
            claimed = self.client.xclaim(
                c.stream, c.name, self.worker_name, self.reclaim_idle_ms, [entry["message_id"]]
            )
            for message_id, fields in claimed:
                if fields is None:
                    self._dead_letter(
                        c,
                        message_id,
                        deliveries=entry["times_delivered"],
                        fields={},
                        error=(
                            "trimmed from the stream before it was applied (stream MAXLEN too small for the backlog)"
                        ),
                    )
                elif entry["times_delivered"] >= self.max_deliveries:
                    self._dead_letter(c, message_id, deliveries=entry["times_delivered"], fields=fields)
                else:
                    self._handle(c, message_id, fields)
                    handled += 1
        return handled

    def _handle(self, c: Consumer, message_id: str, fields: dict[str, Any]) -> None:
        try:
            envelope = Envelope.from_json(fields.get("envelope", ""))
        except EnvelopeError as exc:
            self._dead_letter(c, message_id, deliveries=1, fields=fields, error=str(exc))
            return
        try:
            self.apply(c, envelope)
        except (OperationalError, InterfaceError):
            raise  # the database, not the message, is at fault
        except EnvelopeError as exc:  # the handler found the payload malformed: no retry can help
            self._dead_letter(c, message_id, deliveries=1, fields=fields, error=str(exc))
            return
        except Exception as exc:
            self._remember_error(c, message_id, f"{type(exc).__name__}: {exc}")
            logger.exception("consumer %s failed on event %s (%s)", c.name, envelope.id, message_id)
            return
        self._ack(c, message_id)

    def _remember_error(self, c: Consumer, message_id: str, error: str) -> None:
        self._last_error[(c.name, message_id)] = error
        while len(self._last_error) > 1000:  # errors of messages another runner parked are never popped
            self._last_error.popitem(last=False)

    def apply(self, c: Consumer, envelope: Envelope) -> None:
        """Apply one event for one consumer, at most once (the inbox row commits with the effect)."""
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
        self, c: Consumer, message_id: str, *, deliveries: int, fields: dict[str, Any], error: str | None = None
    ) -> None:
        remembered = self._last_error.pop((c.name, message_id), None)
        error = error or remembered or "unknown error (it failed in another runner)"
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


def dead_letter_replay(*, client: redis.Redis, dead_id: str, consumers: Iterable[Consumer]) -> Envelope:
    """Apply a parked message again for the one consumer that parked it; on success it leaves the stream.

    Other consumers of the topic are not disturbed. A failure raises and the letter stays parked.
    """
    found = client.xrange(dead_letter_stream(), min=dead_id, max=dead_id)
    if not found:
        raise KeyError(f"no dead letter {dead_id}")
    fields = found[0][1]
    target = next((c for c in consumers if c.name == fields["consumer"]), None)
    if target is None:
        raise KeyError(f"dead letter {dead_id} belongs to consumer {fields['consumer']!r}, which is not registered")
    envelope = Envelope.from_json(fields["envelope"])
    ConsumerRunner([target], client=client).apply(target, envelope)
    client.xdel(dead_letter_stream(), dead_id)
    return envelope
