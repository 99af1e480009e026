"""user.action.logged events: written in the change's own transaction, and never carrying a secret."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from apps.kernel.envelope import USER_ACTION_LOGGED
from apps.users.events import ClientInfo
from apps.users.models import OutboxEvent, User
from apps.users.services import auth as services
from apps.users.services.accounts import user_register
from apps.users.tests.factories import PASSWORD, actions, bearer, login, post, user_make

pytestmark = pytest.mark.django_db(databases=["users"])

NEW_PASSWORD = "harbour-lantern-quartz-17"


@pytest.mark.redis
def test_a_login_event_says_who_from_where_and_with_which_agent() -> None:
    user = user_make()

    login(Client(), user.username, **{"User-Agent": "pytest-agent/1.0", "X-Request-ID": "req-users-event-1"})

    event = OutboxEvent.objects.get()
    assert (event.topic, event.version, event.source, event.aggregate_id, event.request_id) == (
        USER_ACTION_LOGGED,
        1,
        "users",
        str(user.pk),
        "req-users-event-1",
    )
    assert event.payload == {
        "actor_id": user.pk,
        "action": "login",
        "resource_type": "user",
        "resource_id": str(user.pk),
        "ip": "127.0.0.1",
        "user_agent": "pytest-agent/1.0",
        "details": {},
    }


@pytest.mark.redis
def test_a_failed_login_event_names_the_attempted_username_but_no_actor() -> None:
    user_make(username="zanele")

    login(Client(), "zanele", "a-wrong-guess-1")

    assert OutboxEvent.objects.get().payload == {
        "actor_id": None,
        "action": "login_failed",
        "resource_type": "user",
        "resource_id": None,
        "ip": "127.0.0.1",
        "user_agent": "",
        "details": {"username": "zanele"},
    }


@pytest.mark.redis
def test_no_event_carries_a_password_or_a_token(settings: Any) -> None:
    settings.USERS_SELF_REGISTRATION = True
    client = Client()
    post(client, "/api/auth/register/", {"username": "neo", "email": "neo@example.org", "password": PASSWORD})
    login(client, "neo", "a-wrong-guess-2")
    first = login(client, "neo").json()
    second = post(client, "/api/auth/refresh/", {"refresh": first["refresh"]}).json()
    changed = post(
        client,
        "/api/auth/change-password/",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        **bearer(second["access"]),
    ).json()
    post(client, "/api/auth/logout/", {"refresh": changed["refresh"]}, **bearer(changed["access"]))

    recorded = json.dumps([event.payload for event in OutboxEvent.objects.order_by("seq")])

    assert actions() == ["register", "login_failed", "login", "password_change", "logout"]
    secrets = [PASSWORD, NEW_PASSWORD, "a-wrong-guess-2", *first.values(), *second.values(), *changed.values()]
    for secret in [s for s in secrets if isinstance(s, str) and s != "Password changed."]:
        assert secret not in recorded
    assert 'password"' not in recorded and "token" not in recorded


def test_a_change_that_rolls_back_leaves_no_event(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_issue(**kwargs: Any) -> Any:
        raise RuntimeError("token issuing failed after the password was set")

    user = user_make()
    monkeypatch.setattr(services, "token_pair_issue", broken_issue)

    with pytest.raises(RuntimeError):
        services.user_password_change(
            request=_request(), user=user, current_password=PASSWORD, new_password=NEW_PASSWORD
        )

    assert User.objects.get(pk=user.pk).check_password(PASSWORD)
    assert "password_change" not in actions()


def test_an_event_commits_with_its_change_or_not_at_all() -> None:
    with pytest.raises(RuntimeError), transaction.atomic(using="users"):
        user_register(enabled=True, username="ghost", email="ghost@example.org", password=PASSWORD, client=ClientInfo())
        assert actions() == ["register"]
        raise RuntimeError("the surrounding work failed")

    assert not User.objects.filter(username="ghost").exists()
    assert actions() == []


def _request() -> Any:
    from django.test import RequestFactory

    return RequestFactory().post("/api/auth/change-password/", REMOTE_ADDR="127.0.0.1")
