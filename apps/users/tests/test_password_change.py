"""POST /api/auth/change-password/: current password checked, Django's validators, other sessions ended."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.users.models import User
from apps.users.tests.factories import PASSWORD, actions, bearer, login, post, user_make

pytestmark = [pytest.mark.redis, pytest.mark.django_db(databases=["users"])]

URL = "/api/auth/change-password/"
NEW_PASSWORD = "harbour-lantern-quartz-17"


def test_changing_the_password_returns_a_fresh_pair_and_the_new_password_works() -> None:
    user = user_make()
    client = Client()
    tokens = login(client, user.username).json()

    response = post(
        client, URL, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, **bearer(tokens["access"])
    )

    assert response.status_code == 200
    assert set(response.json()) == {"detail", "access", "refresh"}
    assert response.json()["detail"] == "Password changed."
    assert login(client, user.username, NEW_PASSWORD).status_code == 200
    assert login(client, user.username, PASSWORD).status_code == 401


def test_changing_the_password_ends_the_other_sessions() -> None:
    user = user_make()
    client = Client()
    other_session = login(client, user.username).json()
    this_session = login(client, user.username).json()

    changed = post(
        client, URL, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, **bearer(this_session["access"])
    ).json()

    assert post(client, "/api/auth/refresh/", {"refresh": other_session["refresh"]}).status_code == 401
    assert post(client, "/api/auth/refresh/", {"refresh": this_session["refresh"]}).status_code == 401
    assert post(client, "/api/auth/refresh/", {"refresh": changed["refresh"]}).status_code == 200


def test_a_wrong_current_password_is_a_400_on_that_field() -> None:
    user = user_make()
    client = Client()
    access = login(client, user.username).json()["access"]

    response = post(client, URL, {"current_password": "not-it-at-all", "new_password": NEW_PASSWORD}, **bearer(access))

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "The current password is incorrect.",
        "details": {"current_password": ["The current password is incorrect."]},
    }
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)
    assert actions() == ["login", "password_change_failed"]


def test_the_new_password_must_pass_every_validator() -> None:
    user = user_make()
    client = Client()
    access = login(client, user.username).json()["access"]

    response = post(client, URL, {"current_password": PASSWORD, "new_password": "12345678"}, **bearer(access))

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "The new password is not acceptable.",
        "details": {
            "new_password": [
                "This password is too short. It must contain at least 10 characters.",
                "This password is too common.",
                "This password is entirely numeric.",
            ]
        },
    }
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)


def test_a_password_like_the_username_is_refused() -> None:
    user = user_make(username="kwame-mensah-lab")
    client = Client()
    access = login(client, user.username).json()["access"]

    response = post(client, URL, {"current_password": PASSWORD, "new_password": "kwame-mensah-lab1"}, **bearer(access))

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"new_password": ["The password is too similar to the username."]}


def test_guessing_the_current_password_is_locked_out_like_login() -> None:
    user = user_make()
    client = Client()
    access = login(client, user.username).json()["access"]

    statuses = [
        post(
            client, URL, {"current_password": f"guess-{n}", "new_password": NEW_PASSWORD}, **bearer(access)
        ).status_code
        for n in range(5)
    ]

    assert statuses == [400, 400, 400, 400, 429]
