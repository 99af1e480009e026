"""POST /api/auth/login/ through the gateway: tokens and the user on success, 401 on bad credentials, 429 lockout."""

from __future__ import annotations

import jwt
import pytest
from django.conf import settings
from django.test import Client

from apps.users.lockout import LOCKOUT_MESSAGE
from apps.users.tests.factories import PASSWORD, actions, login, user_make

pytestmark = [pytest.mark.redis, pytest.mark.django_db(databases=["users"])]

BAD_CREDENTIALS = "No active account found with the given credentials."


def test_login_returns_an_access_and_refresh_pair_and_the_user() -> None:
    user = user_make(role="service_admin", first_name="Ada", last_name="Obi")

    response = login(Client(), user.username)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "user"}
    assert body["user"]["id"] == user.pk
    assert body["user"]["role"] == "service_admin"
    assert actions() == ["login"]


def test_the_access_token_carries_the_claims_deployables_need() -> None:
    user = user_make(role="viewer", is_staff=True)

    access = login(Client(), user.username).json()["access"]

    claims = jwt.decode(access, settings.SIMPLE_JWT["VERIFYING_KEY"], algorithms=["RS256"])
    assert (claims["token_type"], claims["user_id"], claims["role"], claims["is_staff"]) == (
        "access",
        str(user.pk),
        "viewer",
        True,
    )


def test_a_wrong_password_is_401_in_the_error_envelope() -> None:
    user = user_make()

    response = login(Client(), user.username, "not-the-password", **{"X-Request-ID": "req-users-login-1"})

    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "AUTHENTICATION_ERROR", "message": BAD_CREDENTIALS},
        "request_id": "req-users-login-1",
    }
    assert actions() == ["login_failed"]


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password() -> None:
    response = login(Client(), "nobody-here", "whatever-it-is")

    assert response.status_code == 401
    assert response.json()["error"] == {"code": "AUTHENTICATION_ERROR", "message": BAD_CREDENTIALS}


def test_an_inactive_user_cannot_log_in() -> None:
    user = user_make(is_active=False)

    response = login(Client(), user.username)

    assert response.status_code == 401


def test_missing_fields_are_a_validation_error_per_field() -> None:
    from apps.users.tests.factories import post

    response = post(Client(), "/api/auth/login/", {"username": "someone"})

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "Invalid input.",
        "details": {"password": ["This field is required."]},
    }


def test_five_failures_lock_the_username_from_that_address_for_the_cool_off() -> None:
    user = user_make()
    client = Client()

    statuses = [login(client, user.username, f"wrong-{n}").status_code for n in range(5)]
    locked = login(client, user.username, PASSWORD, **{"X-Request-ID": "req-users-locked-1"})

    assert statuses == [401, 401, 401, 401, 429]
    assert locked.status_code == 429
    assert locked["Retry-After"] == "900"
    assert locked.json() == {
        "error": {"code": "RATE_LIMIT_EXCEEDED", "message": LOCKOUT_MESSAGE},
        "request_id": "req-users-locked-1",
    }
    assert actions() == ["login_failed"] * 4 + ["login_locked_out"] * 2


def test_the_lockout_is_keyed_by_username_and_address() -> None:
    user = user_make()
    other = user_make()
    client = Client()
    for n in range(5):
        login(client, user.username, f"wrong-{n}")

    from_elsewhere = login(Client(REMOTE_ADDR="10.1.2.3"), user.username)
    other_user_same_address = login(client, other.username)

    assert from_elsewhere.status_code == 200
    assert other_user_same_address.status_code == 200


def test_a_success_before_the_limit_resets_the_failure_count() -> None:
    user = user_make()
    client = Client()
    for n in range(4):
        login(client, user.username, f"wrong-{n}")
    assert login(client, user.username).status_code == 200

    after = [login(client, user.username, f"again-{n}").status_code for n in range(4)]

    assert after == [401, 401, 401, 401]
