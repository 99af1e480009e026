"""GET /api/auth/user/: the current user with role and profile, exactly as API_CONTRACT.md lists it."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.users.models import Profile, User
from apps.users.tests.factories import bearer, login, user_make

pytestmark = [pytest.mark.redis, pytest.mark.django_db(databases=["users"])]


def test_the_current_user_body_is_exact() -> None:
    user = user_make(username="amina", email="amina@example.org", first_name="Amina", last_name="Diallo")
    Profile.objects.filter(user=user).update(
        organization="H3Africa",
        institution="University of Dakar",
        country="SN",
        timezone="Africa/Dakar",
        email_notifications=False,
        monthly_job_quota=25,
        storage_quota_bytes=10 * 1024**3,
    )
    client = Client()
    access = login(client, "amina").json()["access"]

    response = client.get("/api/auth/user/", headers=bearer(access))

    assert response.status_code == 200
    assert response.json() == {
        "id": user.pk,
        "username": "amina",
        "email": "amina@example.org",
        "first_name": "Amina",
        "last_name": "Diallo",
        "is_staff": False,
        "role": "researcher",
        "profile": {
            "organization": "H3Africa",
            "institution": "University of Dakar",
            "country": "SN",
            "timezone": "Africa/Dakar",
            "email_notifications": False,
            "quotas": {"monthly_jobs": 25, "storage_bytes": 10 * 1024**3},
        },
    }


def test_login_returns_the_same_user_body() -> None:
    user = user_make()
    client = Client()
    body = login(client, user.username).json()

    current = client.get("/api/auth/user/", headers=bearer(body["access"])).json()

    assert body["user"] == current


def test_an_account_without_a_profile_reads_as_the_defaults() -> None:
    user = User.objects.create_user(username="made-elsewhere", password="plum-orchard-velvet-42")
    client = Client()
    access = login(client, user.username, "plum-orchard-velvet-42").json()["access"]

    profile = client.get("/api/auth/user/", headers=bearer(access)).json()["profile"]

    assert profile == {
        "organization": "",
        "institution": "",
        "country": "",
        "timezone": "UTC",
        "email_notifications": True,
        "quotas": {"monthly_jobs": 100, "storage_bytes": 50 * 1024**3},
    }


def test_the_current_user_needs_a_token() -> None:
    response = Client().get("/api/auth/user/")

    assert response.status_code == 401
