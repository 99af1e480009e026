"""The event path end to end against a real Redis: outbox -> relay -> stream -> consumer group -> inbox."""

from __future__ import annotations

import threading

import pytest
import redis
from django.core.management import CommandError, call_command
from django.db import connections, transaction

from apps.kernel import consumers as consumers_module
from apps.kernel.consumers import Consumer, ConsumerRunner, dead_letter_list, dead_letter_replay
from apps.kernel.envelope import NOTIFICATION_SEND, USER_ACTION_LOGGED, Envelope
from apps.kernel.outbox import OutboxUsageError, outbox_record
from apps.kernel.relay import relay_publish_outbox, relay_publish_pending
from apps.kernel.request_id import request_id_bound
from apps.kernel.streams import dead_letter_stream, stream_for
from apps.notifications.models import InboxEntry as NotificationsInbox
from apps.notifications.models import OutboxEvent as NotificationsOutbox
from apps.users.models import OutboxEvent as UsersOutbox
from apps.users.models import User
from config.settings.profiles import CONTEXT_ALIASES

# the relay drains every context's outbox, so these tests open every context database
pytestmark = [pytest.mark.redis, pytest.mark.django_db(databases=CONTEXT_ALIASES, transaction=True)]


class Died(BaseException):
    """Stands for the process being killed: not an Exception, so nothing in the runner can swallow it."""


def _create_user_with_event(username: str) -> Envelope:
    with transaction.atomic(using="users"):
        user = User.objects.create(username=username)
        return outbox_record(
            outbox=UsersOutbox, topic=USER_ACTION_LOGGED, aggregate_id=user.pk, payload={"action": "signup"}
        )


def _notify(envelope: Envelope) -> None:
    """The effect under test: the consumer records a notification.send event in its own context's database."""
    outbox_record(
        outbox=NotificationsOutbox,
        topic=NOTIFICATION_SEND,
        aggregate_id=envelope.aggregate_id,
        payload={"cause": str(envelope.id)},
    )


def _welcome_consumer(handler=_notify) -> Consumer:
    return Consumer(name="notifications.welcome", topic=USER_ACTION_LOGGED, handler=handler, inbox=NotificationsInbox)


def _effects() -> int:
    return NotificationsOutbox.objects.using("notifications").count()


def _pending(client: redis.Redis, consumer: Consumer) -> int:
    return int(client.xpending(consumer.stream, consumer.name)["pending"])


def test_a_change_and_its_event_commit_together_and_reach_the_stream(event_bus: redis.Redis) -> None:
    envelope = _create_user_with_event("ada")

    published, failed = relay_publish_pending(client=event_bus)

    assert User.objects.using("users").filter(username="ada").exists()
    assert (published, failed) == (1, 0)
    row = UsersOutbox.objects.using("users").get()
    assert row.published_at is not None
    [(_, fields)] = event_bus.xrange(stream_for(USER_ACTION_LOGGED))
    assert Envelope.from_json(fields["envelope"]) == envelope
    assert envelope.source == "users" and envelope.payload == {"action": "signup"}


def test_a_rolled_back_transaction_publishes_nothing(event_bus: redis.Redis) -> None:
    with pytest.raises(RuntimeError), transaction.atomic(using="users"):
        user = User.objects.create(username="grace")
        outbox_record(outbox=UsersOutbox, topic=USER_ACTION_LOGGED, aggregate_id=user.pk, payload={})
        raise RuntimeError("the change failed after the event was recorded")

    published, failed = relay_publish_pending(client=event_bus)

    assert (published, failed) == (0, 0)
    assert not User.objects.using("users").exists()
    assert not UsersOutbox.objects.using("users").exists()
    assert event_bus.xlen(stream_for(USER_ACTION_LOGGED)) == 0


def test_recording_an_event_outside_its_own_databases_transaction_is_refused() -> None:
    with pytest.raises(OutboxUsageError, match=r"atomic\(using='users'\)"):
        outbox_record(outbox=UsersOutbox, topic=USER_ACTION_LOGGED, aggregate_id=1, payload={})
    with pytest.raises(OutboxUsageError), transaction.atomic(using="notifications"):
        outbox_record(outbox=UsersOutbox, topic=USER_ACTION_LOGGED, aggregate_id=1, payload={})


def test_relay_failure_leaves_events_unpublished_for_the_next_attempt(event_bus: redis.Redis, tmp_path) -> None:
    _create_user_with_event("linus")
    dead_redis = redis.Redis(unix_socket_path=str(tmp_path / "nobody.sock"))

    with pytest.raises(redis.ConnectionError):
        relay_publish_outbox(outbox=UsersOutbox, client=dead_redis)

    assert UsersOutbox.objects.using("users").filter(published_at__isnull=True).count() == 1
    assert relay_publish_outbox(outbox=UsersOutbox, client=event_bus) == 1


def test_consumer_applies_the_effect_once_and_acks(event_bus: redis.Redis) -> None:
    consumer = _welcome_consumer()
    runner = ConsumerRunner([consumer], client=event_bus)
    runner.ensure_groups()
    with request_id_bound("req-from-signup-form"):
        envelope = _create_user_with_event("barbara")
    relay_publish_pending(client=event_bus)

    handled = runner.run_once()

    assert handled == 1
    assert _effects() == 1
    effect = NotificationsOutbox.objects.using("notifications").get()
    assert effect.payload == {"cause": str(envelope.id)}
    assert effect.request_id == "req-from-signup-form"  # the consumer works under the causing request's id
    assert NotificationsInbox.objects.using("notifications").get().event_id == envelope.id
    assert _pending(event_bus, consumer) == 0


def test_consumer_that_dies_after_its_effect_but_before_ack_is_redelivered_and_the_effect_happens_once(
    event_bus: redis.Redis,
) -> None:
    class DiesBeforeAck(ConsumerRunner):
        def _ack(self, c: Consumer, message_id: str) -> None:
            raise Died

    consumer = _welcome_consumer()
    doomed = DiesBeforeAck([consumer], client=event_bus, worker_name="doomed")
    doomed.ensure_groups()
    _create_user_with_event("margaret")
    relay_publish_pending(client=event_bus)
    with pytest.raises(Died):
        doomed.run_once()
    assert _effects() == 1 and _pending(event_bus, consumer) == 1

    survivor = ConsumerRunner([consumer], client=event_bus, worker_name="survivor", reclaim_idle_ms=0)
    handled = survivor.run_once()

    assert handled == 1
    assert _effects() == 1
    assert _pending(event_bus, consumer) == 0
    assert NotificationsInbox.objects.using("notifications").count() == 1


def test_a_message_that_always_fails_is_dead_lettered_then_replayed_once_fixed(event_bus: redis.Redis) -> None:
    broken = threading.Event()
    broken.set()

    def flaky(envelope: Envelope) -> None:
        if broken.is_set():
            raise ValueError("template missing")
        _notify(envelope)

    consumer = _welcome_consumer(flaky)
    runner = ConsumerRunner([consumer], client=event_bus, reclaim_idle_ms=0, max_deliveries=3)
    runner.ensure_groups()
    _create_user_with_event("katherine")
    relay_publish_pending(client=event_bus)

    for _ in range(4):
        runner.run_once()

    [(dead_id, fields)] = dead_letter_list(client=event_bus)
    assert fields["consumer"] == "notifications.welcome"
    assert fields["deliveries"] == "3"
    assert fields["error"] == "ValueError: template missing"
    assert _pending(event_bus, consumer) == 0
    assert _effects() == 0
    assert NotificationsInbox.objects.using("notifications").count() == 0

    with pytest.raises(ValueError, match="template missing"):
        dead_letter_replay(client=event_bus, dead_id=dead_id, consumers=[consumer])
    assert event_bus.xlen(dead_letter_stream()) == 1  # still broken: the letter stays parked

    broken.clear()
    replayed = dead_letter_replay(client=event_bus, dead_id=dead_id, consumers=[consumer])

    assert _effects() == 1
    assert NotificationsOutbox.objects.using("notifications").get().payload == {"cause": str(replayed.id)}
    assert event_bus.xlen(dead_letter_stream()) == 0
    assert event_bus.xlen(consumer.stream) == 1  # replayed for this consumer only, not re-published to all
    assert _pending(event_bus, consumer) == 0


def test_a_malformed_message_is_dead_lettered_at_once(event_bus: redis.Redis) -> None:
    consumer = _welcome_consumer()
    runner = ConsumerRunner([consumer], client=event_bus)
    runner.ensure_groups()
    event_bus.xadd(consumer.stream, {"envelope": "{not json"})

    runner.run_once()

    [(_, fields)] = dead_letter_list(client=event_bus)
    assert fields["error"].startswith("malformed envelope")
    assert fields["envelope"] == "{not json"
    assert _effects() == 0 and _pending(event_bus, consumer) == 0


def test_deadletter_command_lists_replays_what_it_can_and_keeps_the_rest(
    event_bus: redis.Redis, capsys, monkeypatch
) -> None:
    consumer = _welcome_consumer()
    monkeypatch.setitem(consumers_module._registry, consumer.name, consumer)
    runner = ConsumerRunner([consumer], client=event_bus, reclaim_idle_ms=0, max_deliveries=1)
    runner.ensure_groups()
    event_bus.xadd(consumer.stream, {"envelope": "garbage"})
    envelope = _create_user_with_event("niklaus")
    relay_publish_pending(client=event_bus)
    monkeypatch.setattr(runner, "apply", lambda c, e: (_ for _ in ()).throw(RuntimeError("smtp down")))
    runner.run_once()
    runner.run_once()

    call_command("events_deadletters", "list")
    listed = capsys.readouterr().out
    with pytest.raises(CommandError, match="1 of 2 dead letters could not be replayed"):
        call_command("events_deadletters", "replay", "--all")
    replayed = capsys.readouterr()

    assert "2 dead letters" in listed and listed.count("notifications.welcome") == 2
    assert f"(event {envelope.id})" in replayed.out
    assert "kept " in replayed.err and "malformed envelope" in replayed.err
    assert _effects() == 1
    [(_, kept)] = dead_letter_list(client=event_bus)
    assert kept["envelope"] == "garbage"


def test_consume_command_runs_the_registered_consumers(event_bus: redis.Redis, capsys, monkeypatch) -> None:
    consumer = _welcome_consumer()
    monkeypatch.setitem(consumers_module._registry, consumer.name, consumer)
    call_command("events_consume", "--once")  # creates the group, nothing to do yet
    _create_user_with_event("frances")
    relay_publish_pending(client=event_bus)

    call_command("events_consume", "--once", "--consumer", "notifications.welcome")

    assert capsys.readouterr().out.splitlines()[-1] == "handled 1 messages"
    assert _effects() == 1
    with pytest.raises(CommandError, match=r"unknown consumers \['nobody.here'\]"):
        call_command("events_consume", "--once", "--consumer", "nobody.here")


def test_relay_command_once_publishes_pending_events(event_bus: redis.Redis, capsys) -> None:
    _create_user_with_event("edsger")
    _create_user_with_event("tony")

    call_command("events_relay", "--once")

    assert capsys.readouterr().out.strip() == "published 2 events"
    assert event_bus.xlen(stream_for(USER_ACTION_LOGGED)) == 2


@pytest.mark.postgres
def test_two_relays_never_publish_the_same_rows(event_bus: redis.Redis) -> None:
    first = _create_user_with_event("alan")
    second = _create_user_with_event("john")
    other = connections.create_connection("users")  # a second session, as a second relay process would have
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:
            cursor.execute("SELECT seq FROM users_outboxevent WHERE event_id = %s FOR UPDATE", [first.id])

        published = relay_publish_outbox(outbox=UsersOutbox, client=event_bus)

        [(_, fields)] = event_bus.xrange(stream_for(USER_ACTION_LOGGED))
        assert published == 1
        assert Envelope.from_json(fields["envelope"]).id == second.id
    finally:
        other.rollback()
        other.close()
    assert relay_publish_outbox(outbox=UsersOutbox, client=event_bus) == 1


@pytest.mark.postgres
def test_relay_recovers_after_the_database_drops_its_connection(event_bus: redis.Redis) -> None:
    _create_user_with_event("barbara")
    backend_pid = connections["users"].connection.info.backend_pid
    killer = connections.create_connection("users")
    try:
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
    finally:
        killer.close()

    first = relay_publish_pending(client=event_bus)
    second = relay_publish_pending(client=event_bus)

    assert first == (0, 1)  # the users outbox failed on the dead connection; the other contexts went on
    assert second == (1, 0)  # the broken connection was dropped and the next round reconnected
