"""Refresh rotation, logout revocation, and access tokens the gateway edge refuses (tampered, expired)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from apps.users.tests.factories import actions, bearer, login, post, user_make

pytestmark = [pytest.mark.redis, pytest.mark.django_db(databases=["users"])]

REFRESH_REFUSED = "The refresh token is invalid, expired or revoked."
LOGOUT_REFUSED = "The refresh token is invalid, expired or already revoked."


def test_refresh_rotates_the_pair_and_refuses_the_old_refresh_token() -> None:
    user = user_make()
    client = Client()
    first = login(client, user.username).json()

    rotated = post(client, "/api/auth/refresh/", {"refresh": first["refresh"]})
    reused = post(client, "/api/auth/refresh/", {"refresh": first["refresh"]})

    assert rotated.status_code == 200
    assert set(rotated.json()) == {"access", "refresh"}
    assert rotated.json()["refresh"] != first["refresh"]
    assert reused.status_code == 401
    assert reused.json()["error"] == {"code": "AUTHENTICATION_ERROR", "message": REFRESH_REFUSED}


def test_the_rotated_refresh_token_works_once_in_turn() -> None:
    user = user_make()
    client = Client()
    first = login(client, user.username).json()
    second = post(client, "/api/auth/refresh/", {"refresh": first["refresh"]}).json()

    third = post(client, "/api/auth/refresh/", {"refresh": second["refresh"]})

    assert third.status_code == 200


def test_a_refreshed_access_token_is_accepted_by_the_edge_and_the_view() -> None:
    user = user_make()
    client = Client()
    first = login(client, user.username).json()
    access = post(client, "/api/auth/refresh/", {"refresh": first["refresh"]}).json()["access"]

    response = client.get("/api/auth/user/", headers=bearer(access))

    assert response.status_code == 200 and response.json()["id"] == user.pk


def test_refresh_of_a_deactivated_user_is_refused() -> None:
    user = user_make()
    client = Client()
    refresh = login(client, user.username).json()["refresh"]
    user.is_active = False
    user.save(update_fields=["is_active"])

    response = post(client, "/api/auth/refresh/", {"refresh": refresh})

    assert response.status_code == 401


def test_an_access_token_is_not_a_refresh_token() -> None:
    user = user_make()
    client = Client()
    access = login(client, user.username).json()["access"]

    response = post(client, "/api/auth/refresh/", {"refresh": access})

    assert response.status_code == 401
    assert response.json()["error"]["message"] == REFRESH_REFUSED


def test_logout_revokes_the_refresh_token_and_a_second_logout_is_refused() -> None:
    user = user_make()
    client = Client()
    tokens = login(client, user.username).json()

    logout = post(client, "/api/auth/logout/", {"refresh": tokens["refresh"]}, **bearer(tokens["access"]))
    refresh_after = post(client, "/api/auth/refresh/", {"refresh": tokens["refresh"]})
    second = post(client, "/api/auth/logout/", {"refresh": tokens["refresh"]}, **bearer(tokens["access"]))

    assert logout.status_code == 205
    assert logout.content == b""
    assert refresh_after.status_code == 401
    assert second.status_code == 400
    assert second.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "message": LOGOUT_REFUSED,
        "details": {"refresh": [LOGOUT_REFUSED]},
    }
    assert actions() == ["login", "logout"]


def test_logout_cannot_revoke_someone_elses_refresh_token() -> None:
    me, other = user_make(), user_make()
    client = Client()
    mine = login(client, me.username).json()
    theirs = login(client, other.username).json()

    response = post(client, "/api/auth/logout/", {"refresh": theirs["refresh"]}, **bearer(mine["access"]))

    assert response.status_code == 400
    assert post(client, "/api/auth/refresh/", {"refresh": theirs["refresh"]}).status_code == 200


def test_logout_needs_an_access_token_at_the_edge() -> None:
    user = user_make()
    client = Client()
    tokens = login(client, user.username).json()

    response = post(client, "/api/auth/logout/", {"refresh": tokens["refresh"]})

    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "AUTHENTICATION_ERROR",
        "message": "Authentication credentials were not provided.",
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_tampered_access_token_is_refused_at_the_edge() -> None:
    user = user_make(role="viewer")
    access = login(Client(), user.username).json()["access"]
    header, payload, signature = access.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged_payload = _b64(json.dumps({**claims, "role": "admin", "is_staff": True}).encode())

    response = Client().get("/api/auth/user/", headers=bearer(f"{header}.{forged_payload}.{signature}"))

    assert response.status_code == 401
    assert response.json()["error"] == {"code": "AUTHENTICATION_ERROR", "message": "The access token is invalid."}
    assert response["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_an_expired_access_token_is_refused_at_the_edge() -> None:
    user = user_make()
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))

    response = Client().get("/api/auth/user/", headers=bearer(str(token)))

    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "AUTHENTICATION_ERROR",
        "message": "The access token has expired; refresh it.",
    }


def test_a_refresh_token_is_not_accepted_as_an_access_token() -> None:
    user = user_make()
    refresh = login(Client(), user.username).json()["refresh"]

    response = Client().get("/api/auth/user/", headers=bearer(refresh))

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Only an access token is accepted here."
