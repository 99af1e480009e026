"""The notifications API through the whole stack (gateway middleware, JWT, error envelope): the caller's feed,
unread count, marking read, preferences; another user's notification is a 404."""

from __future__ import annotations

from typing import Any

import pytest

from apps.notifications.messages import notification_body
from apps.notifications.models import Notification
from apps.notifications.push import Push
from apps.notifications.services.preferences import preference_update
from apps.notifications.tests.factories import call, notification_make

pytestmark = [pytest.mark.django_db(databases=["notifications"]), pytest.mark.redis]

DEFAULT_PREFERENCES = {
    "channels": {
        "job_update": {"web": True, "email": True},
        "service_alert": {"web": True, "email": False},
        "security": {"web": True, "email": True},
        "system": {"web": True, "email": True},
    },
    "digest": "immediate",
    "quiet_hours": None,
    "updated_at": None,
}


def _read(notification: Notification) -> None:
    Notification.objects.using("notifications").filter(pk=notification.pk).update(read_at="2026-03-02T09:00:00Z")


def test_the_caller_lists_their_own_notifications_newest_first() -> None:
    first = notification_make(21, "First", message="One", data={"job_id": "j1"}, priority="high")
    second = notification_make(21, "Second")
    third = notification_make(21, "Third")
    notification_make(22, "Somebody else's")
    _read(second)

    listed = call("GET", "/api/notifications/", user_id=21)
    unread = call("GET", "/api/notifications/?unread=true", user_id=21).json()
    read = call("GET", "/api/notifications/?unread=false", user_id=21).json()

    assert listed.status_code == 200
    body = listed.json()
    assert (body["count"], body["next"], body["previous"]) == (3, None, None)
    assert [n["id"] for n in body["results"]] == [third.pk, second.pk, first.pk]
    assert body["results"][2] == {
        "id": first.pk,
        "type": "job_update",
        "title": "First",
        "message": "One",
        "data": {"job_id": "j1"},
        "priority": "high",
        "created_at": notification_body(first)["created_at"],
        "read_at": None,
        "is_read": False,
    }
    assert [n["id"] for n in unread["results"]] == [third.pk, first.pk]
    assert [(n["id"], n["is_read"], n["read_at"]) for n in read["results"]] == [
        (second.pk, True, "2026-03-02T09:00:00Z")
    ]


def test_the_list_pages_by_twenty_and_rejects_a_bad_filter() -> None:
    for number in range(25):
        notification_make(21, f"N{number}")

    first = call("GET", "/api/notifications/", user_id=21).json()
    small = call("GET", "/api/notifications/?page=2&page_size=10", user_id=21).json()
    bad = call("GET", "/api/notifications/?unread=maybe", user_id=21)

    assert (first["count"], len(first["results"])) == (25, 20)
    assert first["next"] == "http://testserver/api/notifications/?page=2"
    assert [n["title"] for n in small["results"]] == [f"N{number}" for number in range(14, 4, -1)]
    assert bad.status_code == 400
    assert bad.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "Invalid input.",
        "details": {"unread": ["unread must be true or false."]},
    }


def test_marking_read_is_idempotent_counted_and_announced_to_the_users_sockets(
    pushed: list[Push], django_capture_on_commit_callbacks: Any
) -> None:
    first = notification_make(21, "First")
    notification_make(21, "Second")

    with django_capture_on_commit_callbacks(using="notifications", execute=True):
        marked = call("POST", f"/api/notifications/{first.pk}/read/", user_id=21)
    again = call("POST", f"/api/notifications/{first.pk}/read/", user_id=21)
    count = call("GET", "/api/notifications/unread-count/", user_id=21)

    assert marked.status_code == 200
    assert marked.json()["is_read"] is True
    assert again.json() == marked.json()  # the first read time stays
    assert count.json() == {"unread_count": 1}
    assert pushed == [(21, {"type": "read", "data": {"ids": [first.pk], "all": False, "unread_count": 1}})]


def test_another_users_notification_is_not_found() -> None:
    theirs = notification_make(22, "Theirs")

    response = call("POST", f"/api/notifications/{theirs.pk}/read/", user_id=21)

    assert response.status_code == 404
    assert response.json()["error"] == {"code": "NOT_FOUND", "message": "Not found."}
    assert Notification.objects.using("notifications").get(pk=theirs.pk).read_at is None


def test_read_all_marks_only_the_callers_unread_ones(
    pushed: list[Push], django_capture_on_commit_callbacks: Any
) -> None:
    notification_make(21, "One")
    notification_make(21, "Two")
    _read(notification_make(21, "Three"))
    notification_make(22, "Theirs")

    with django_capture_on_commit_callbacks(using="notifications", execute=True):
        response = call("POST", "/api/notifications/read-all/", user_id=21)

    assert response.json() == {"marked": 2}
    assert call("GET", "/api/notifications/unread-count/", user_id=21).json() == {"unread_count": 0}
    assert call("GET", "/api/notifications/unread-count/", user_id=22).json() == {"unread_count": 1}
    assert pushed == [(21, {"type": "read", "data": {"ids": None, "all": True, "unread_count": 0}})]


def test_a_notification_the_user_wants_by_email_only_stays_out_of_the_app() -> None:
    preference_update(user_id=21, changes={"channels": {"system": {"web": False}}})
    hidden = notification_make(21, "Maintenance tonight", type="system")

    listed = call("GET", "/api/notifications/", user_id=21).json()
    marked = call("POST", f"/api/notifications/{hidden.pk}/read/", user_id=21)

    assert (hidden.in_app, hidden.email_wanted) == (False, True)
    assert listed["count"] == 0
    assert marked.status_code == 404


def test_preferences_start_at_the_defaults_and_patch_merges() -> None:
    defaults = call("GET", "/api/notifications/preferences/", user_id=21)

    patched = call(
        "PATCH",
        "/api/notifications/preferences/",
        {
            "channels": {"service_alert": {"email": True}, "system": {"web": False}},
            "digest": "daily",
            "quiet_hours": {"start": "22:00", "end": "07:30"},
        },
        user_id=21,
    )
    cleared = call("PATCH", "/api/notifications/preferences/", {"quiet_hours": None}, user_id=21)

    assert defaults.status_code == 200
    assert defaults.json() == DEFAULT_PREFERENCES
    assert patched.status_code == 200
    assert patched.json() == {
        "channels": {
            "job_update": {"web": True, "email": True},
            "service_alert": {"web": True, "email": True},
            "security": {"web": True, "email": True},
            "system": {"web": False, "email": True},
        },
        "digest": "daily",
        "quiet_hours": {"start": "22:00", "end": "07:30"},
        "updated_at": patched.json()["updated_at"],
    }
    assert cleared.json() == {**patched.json(), "quiet_hours": None, "updated_at": cleared.json()["updated_at"]}
    assert call("GET", "/api/notifications/preferences/", user_id=21).json() == cleared.json()
    assert call("GET", "/api/notifications/preferences/", user_id=22).json() == DEFAULT_PREFERENCES


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({"digest": "weekly"}, {"digest": ['"weekly" is not a valid choice.']}),
        (
            {"quiet_hours": {"start": "22:00", "end": "22:00"}},
            {"quiet_hours": {"non_field_errors": ["start and end must differ; send null to turn quiet hours off."]}},
        ),
        (
            {"quiet_hours": {"start": "25:00", "end": "07:00"}},
            {"quiet_hours": {"start": ["Time has wrong format. Use one of these formats instead: hh:mm."]}},
        ),
        (
            {"channels": {"security": {"email": "sometimes"}}},
            {"channels": {"security": {"email": ["Must be a valid boolean."]}}},
        ),
    ],
)
def test_invalid_preferences_are_refused_with_details(body: dict[str, Any], details: dict[str, Any]) -> None:
    response = call("PATCH", "/api/notifications/preferences/", body, user_id=21)

    assert response.status_code == 400
    assert response.json()["error"]["details"] == details
    assert call("GET", "/api/notifications/preferences/", user_id=21).json() == DEFAULT_PREFERENCES


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/notifications/"),
        ("GET", "/api/notifications/unread-count/"),
        ("POST", "/api/notifications/read-all/"),
        ("GET", "/api/notifications/preferences/"),
    ],
)
def test_anonymous_callers_are_refused(method: str, path: str) -> None:
    response = call(method, path)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"
