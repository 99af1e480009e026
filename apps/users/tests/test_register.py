"""POST /api/auth/register/: absent (404) unless USERS_SELF_REGISTRATION is on; then it creates a researcher."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.users.models import User
from apps.users.tests.factories import actions, login, post, user_make

pytestmark = [pytest.mark.redis, pytest.mark.django_db(databases=["users"])]

URL = "/api/auth/register/"
NEW_USER = {
    "username": "fatou",
    "email": "fatou@example.org",
    "password": "baobab-sunrise-harmattan-8",
    "first_name": "Fatou",
    "last_name": "Sow",
}


def test_registration_is_not_found_when_it_is_off(settings: Any) -> None:
    settings.USERS_SELF_REGISTRATION = False

    response = post(Client(), URL, NEW_USER, **{"X-Request-ID": "req-users-register-1"})

    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "NOT_FOUND", "message": "Not found."},
        "request_id": "req-users-register-1",
    }
    assert not User.objects.filter(username="fatou").exists()


def test_registration_creates_a_researcher_who_can_log_in(settings: Any) -> None:
    settings.USERS_SELF_REGISTRATION = True

    response = post(Client(), URL, NEW_USER)

    assert response.status_code == 201
    user = User.objects.get(username="fatou")
    assert response.json() == {
        "id": user.pk,
        "username": "fatou",
        "email": "fatou@example.org",
        "first_name": "Fatou",
        "last_name": "Sow",
        "is_staff": False,
        "role": "researcher",
        "profile": {
            "organization": "",
            "institution": "",
            "country": "",
            "timezone": "UTC",
            "email_notifications": True,
            "quotas": {"monthly_jobs": 100, "storage_bytes": 50 * 1024**3},
        },
    }
    assert (user.is_staff, user.is_superuser) == (False, False)
    assert login(Client(), "fatou", NEW_USER["password"]).status_code == 200
    assert actions() == ["register", "login"]


def test_registration_cannot_choose_a_role_or_staff(settings: Any) -> None:
    settings.USERS_SELF_REGISTRATION = True

    response = post(Client(), URL, {**NEW_USER, "role": "admin", "is_staff": True})

    assert response.status_code == 201
    assert (response.json()["role"], response.json()["is_staff"]) == ("researcher", False)


def test_registration_refuses_a_weak_password_with_the_validators_messages(settings: Any) -> None:
    settings.USERS_SELF_REGISTRATION = True

    response = post(Client(), URL, {**NEW_USER, "password": "password"})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "password": [
            "This password is too short. It must contain at least 10 characters.",
            "This password is too common.",
        ]
    }


def test_registration_refuses_a_taken_username(settings: Any) -> None:
    settings.USERS_SELF_REGISTRATION = True
    user_make(username="fatou")

    response = post(Client(), URL, NEW_USER)

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"username": ["A user with that username already exists."]}


def test_registration_refuses_an_invalid_username(settings: Any) -> None:
    settings.USERS_SELF_REGISTRATION = True

    response = post(Client(), URL, {**NEW_USER, "username": "no spaces allowed"})

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["username"]
