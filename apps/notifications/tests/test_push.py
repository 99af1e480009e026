"""Pushes leave after the commit (never on rollback), and the channel layer delivers each user's messages to
every socket of that user, in order, and to nobody else. Here the in-memory layer; tests/notifications/ runs
channels-redis across real processes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer
from django.db import transaction

from apps.notifications.consumers import job_status_notify
from apps.notifications.models import Notification
from apps.notifications.push import Push, _send_all
from apps.notifications.tests.factories import job_event


@pytest.mark.django_db(databases=["notifications"])
def test_nothing_is_pushed_before_the_commit_nor_after_a_rollback(
    pushed: list[Push], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(using="notifications", execute=True):
        with pytest.raises(RuntimeError), transaction.atomic(using="notifications"):
            job_status_notify(job_event(user_id=7, status="completed"))
            raise RuntimeError("the consumer's transaction failed")
        job_status_notify(job_event(user_id=8, status="completed"))
        inside = list(pushed)

    assert inside == []
    assert [(user_id, message["type"]) for user_id, message in pushed] == [(8, "job.status"), (8, "notification")]
    assert list(Notification.objects.using("notifications").values_list("user_id", flat=True)) == [8]


async def test_each_users_messages_reach_all_their_sockets_in_order_and_nobody_elses() -> None:
    layer = InMemoryChannelLayer()
    laptop, phone, stranger = [await layer.new_channel() for _ in range(3)]
    for channel, group in ((laptop, "user.7"), (phone, "user.7"), (stranger, "user.8")):
        await layer.group_add(group, channel)

    await _send_all(layer, [(7, {"type": "job.status"}), (9, {"type": "notification"}), (7, {"type": "notification"})])

    for channel in (laptop, phone):
        assert [await layer.receive(channel), await layer.receive(channel)] == [
            {"type": "push.message", "message": {"type": "job.status"}},
            {"type": "push.message", "message": {"type": "notification"}},
        ]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(stranger), timeout=0.1)
