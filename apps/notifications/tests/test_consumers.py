"""The notifications context's event consumers: job status pushes and notifications, service alerts to the
people concerned, other contexts' notification.send; once per event and user."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis

from apps.kernel.consumers import ConsumerRunner, registered_consumers
from apps.kernel.envelope import JOB_STATUS_UPDATED, Envelope, EnvelopeError
from apps.notifications.consumers import job_status_notify, notification_send, service_health_notify
from apps.notifications.messages import notification_body
from apps.notifications.models import JobState, Notification
from apps.notifications.public import notification_send_payload
from apps.notifications.push import Push
from apps.notifications.tests.factories import UsersStub, health_event, job_event, send_event

pytestmark = pytest.mark.django_db(databases=["notifications"])


def _notifications() -> list[Notification]:
    return list(Notification.objects.using("notifications").order_by("id"))


def _bodies() -> list[dict[str, Any]]:
    return [notification_body(n) for n in _notifications()]


def _kinds(pushed: list[Push]) -> list[tuple[int, str]]:
    return [(user_id, message["type"]) for user_id, message in pushed]


def test_a_completed_job_notifies_its_owner_and_pushes_its_status(
    pushed: list[Push], django_capture_on_commit_callbacks: Any
) -> None:
    event = job_event(user_id=7, status="completed", job_id="job-1", stage="done", progress=100, name="chr22 run")

    with django_capture_on_commit_callbacks(using="notifications", execute=True):
        job_status_notify(event)

    [notification] = _notifications()
    body = notification_body(notification)
    assert body == {
        "id": notification.pk,
        "type": "job_update",
        "title": 'Job "chr22 run" completed',
        "message": "Your job finished; its results are ready to download.",
        "data": {"job_id": "job-1", "service_id": 3, "status": "completed", "stage": "done", "progress": 100},
        "priority": "normal",
        "created_at": body["created_at"],
        "read_at": None,
        "is_read": False,
    }
    assert pushed == [
        (
            7,
            {
                "type": "job.status",
                "data": {"job_id": "job-1", "status": "completed", "stage": "done", "progress": 100},
            },
        ),
        (7, {"type": "notification", "data": body}),
    ]
    assert notification.dedupe_key == str(event.id)


def test_every_status_is_pushed_and_only_endings_make_notifications(
    pushed: list[Push], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(using="notifications", execute=True):
        job_status_notify(job_event(user_id=7, status="queued", job_id="job-2", stage="queued", progress=0))
        job_status_notify(job_event(user_id=7, status="running", job_id="job-2", stage="running", progress=40))
        job_status_notify(job_event(user_id=7, status="failed", job_id="job-2", message="QC: no chr22 variants."))
        job_status_notify(job_event(user_id=8, status="cancelled", job_id="job-3"))

    assert [(n["title"], n["message"], n["priority"]) for n in _bodies()] == [
        ('Job "job-2" failed', "Your job failed. QC: no chr22 variants.", "high"),
        ('Job "job-3" was cancelled', "Your job was cancelled.", "normal"),
    ]
    assert _kinds(pushed) == [
        (7, "job.status"),
        (7, "job.status"),
        (7, "job.status"),
        (7, "notification"),
        (8, "job.status"),
        (8, "notification"),
    ]
    assert pushed[1] == (
        7,
        {"type": "job.status", "data": {"job_id": "job-2", "status": "running", "stage": "running", "progress": 40}},
    )
    assert JobState.objects.using("notifications").get(job_id="job-2").status == "failed"


def test_a_job_starting_is_news_when_configured(settings: Any) -> None:
    settings.NOTIFICATIONS_JOB_STATUSES = ["running", "completed"]

    job_status_notify(job_event(user_id=7, status="running", job_id="job-4", name="panel test"))

    assert [(n["title"], n["priority"]) for n in _bodies()] == [('Job "panel test" is running', "low")]


def test_a_late_event_neither_rolls_the_job_back_nor_reaches_its_owner(
    pushed: list[Push], django_capture_on_commit_callbacks: Any
) -> None:
    done = job_event(user_id=7, status="completed", job_id="job-5")
    late = job_event(user_id=7, status="running", job_id="job-5", occurred_at=done.occurred_at - timedelta(seconds=5))

    with django_capture_on_commit_callbacks(using="notifications", execute=True):
        job_status_notify(done)
        job_status_notify(late)

    assert _kinds(pushed) == [(7, "job.status"), (7, "notification")]
    assert JobState.objects.using("notifications").get(job_id="job-5").status == "completed"


@pytest.mark.parametrize(
    "payload",
    [
        {"service_id": 3, "user_id": 7, "status": "completed"},
        {"job_id": "j", "service_id": 3, "user_id": "x", "status": "failed"},
    ],
)
def test_a_job_event_without_its_ids_is_refused_for_good(payload: dict[str, Any]) -> None:
    malformed = Envelope(type=JOB_STATUS_UPDATED, source="jobs", aggregate_id="j", payload=payload)

    with pytest.raises(EnvelopeError, match="needs job_id, service_id, user_id and status"):
        job_status_notify(malformed)
    assert _notifications() == []


def test_an_event_applied_twice_notifies_once() -> None:
    [consumer] = [c for c in registered_consumers() if c.name == "notifications.job_status"]
    runner = ConsumerRunner([consumer], client=redis.Redis())  # apply() needs no Redis
    event = job_event(user_id=7, status="completed")

    runner.apply(consumer, event)
    runner.apply(consumer, event)  # redelivered: the inbox knows it
    job_status_notify(event)  # even past the inbox (a replay elsewhere), the event id is the notification's key

    assert len(_notifications()) == 1


def test_a_service_going_down_notifies_its_audience_and_the_owners_of_its_active_jobs(
    users: UsersStub, pushed: list[Push], django_capture_on_commit_callbacks: Any
) -> None:
    users.audiences[3] = [1, 2]
    job_status_notify(job_event(user_id=5, status="running", service_id=3))
    job_status_notify(job_event(user_id=2, status="queued", service_id=3))
    job_status_notify(job_event(user_id=6, status="completed", service_id=3))
    job_status_notify(job_event(user_id=8, status="running", service_id=4))
    Notification.objects.using("notifications").all().delete()

    with django_capture_on_commit_callbacks(using="notifications", execute=True):
        service_health_notify(
            health_event(service_id=3, previous="healthy", status="timeout", message="Read timed out.")
        )

    bodies = _bodies()
    assert [n.user_id for n in _notifications()] == [1, 2, 5]
    assert bodies[0] == {
        "id": bodies[0]["id"],
        "type": "service_alert",
        "title": "Service 3 is unavailable",
        "message": "Service 3 stopped answering health checks (timeout). Read timed out.",
        "data": {"service_id": 3, "slug": "svc-3", "previous": "healthy", "status": "timeout"},
        "priority": "high",
        "created_at": bodies[0]["created_at"],
        "read_at": None,
        "is_read": False,
    }
    assert _kinds(pushed) == [(1, "notification"), (2, "notification"), (5, "notification")]


@pytest.mark.parametrize(
    ("previous", "status", "titles"),
    [
        ("timeout", "healthy", ["Service 3 is available again"]),
        ("unknown", "unhealthy", ["Service 3 is unavailable"]),
        ("unhealthy", "timeout", []),  # still down: no news
        ("unknown", "healthy", []),  # a new service's first check
    ],
)
def test_only_going_down_and_coming_back_are_news(
    users: UsersStub, previous: str, status: str, titles: list[str]
) -> None:
    users.audiences[3] = [1]

    service_health_notify(health_event(service_id=3, previous=previous, status=status))

    assert [n["title"] for n in _bodies()] == titles


def test_notification_send_notifies_each_listed_user_once(
    pushed: list[Push], django_capture_on_commit_callbacks: Any
) -> None:
    payload = notification_send_payload(
        user_ids=[9, 4, 4],
        type="system",
        title="  Worker missing  ",
        message="No Celery worker answered for 5 minutes.",
        data={"alert_id": 12},
        priority="urgent",
    )

    with django_capture_on_commit_callbacks(using="notifications", execute=True):
        notification_send(send_event(**payload))

    assert payload["user_ids"] == [4, 9]
    assert [(n.user_id, n.title, n.priority, n.data) for n in _notifications()] == [
        (4, "Worker missing", "urgent", {"alert_id": 12}),
        (9, "Worker missing", "urgent", {"alert_id": 12}),
    ]
    assert _kinds(pushed) == [(4, "notification"), (9, "notification")]


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (
            {"user_ids": [1], "type": "spam", "title": "Hi"},
            "type must be one of job_update, service_alert, security, system",
        ),
        ({"user_ids": [1], "type": "system"}, "missing 1 required keyword-only argument: 'title'"),
        ({"user_ids": [], "type": "system", "title": "Hi"}, "user_ids must name 1 to 10000 users"),
        ({"user_ids": [1], "type": "system", "title": "Hi", "priority": "max"}, "priority must be one of"),
    ],
)
def test_an_invalid_notification_send_is_refused_for_good(payload: dict[str, Any], problem: str) -> None:
    with pytest.raises(EnvelopeError, match=problem):
        notification_send(send_event(**payload))
    assert _notifications() == []
