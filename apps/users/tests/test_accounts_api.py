"""User management (/api/users/ list, filters, create, detail, update, delete, reset_password, toggle_active),
/api/roles/ and /api/profiles/me/, through the gateway: exact bodies, refusals in the error envelope, an admin
never locking themselves out (409), sessions ended on reset and deactivation, and the audit event of each change."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.kernel.timestamps import timestamp
from apps.users.models import OutboxEvent, User
from apps.users.tests.api_helpers import auth, delete, event_of, last_event, patch, profile_body
from apps.users.tests.factories import PASSWORD, actions, login, post, user_make

pytestmark = [pytest.mark.redis, pytest.mark.django_db(databases=["users"])]

NEW_PASSWORD = "harbour-lantern-quartz-17"
REQUEST_ID = {"X-Request-ID": "req-users-accounts-1"}
LOGIN_REFUSED = {"code": "AUTHENTICATION_ERROR", "message": "No active account found with the given credentials."}
REFRESH_REFUSED = {"code": "AUTHENTICATION_ERROR", "message": "The refresh token is invalid, expired or revoked."}


def account(user: User, **profile: Any) -> dict[str, Any]:
    """What /api/users/ shows of `user` as stored now; its profile is the defaults with `profile` applied."""
    user.refresh_from_db()
    return {
        "id": user.pk,
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_staff": user.is_staff,
        "role": user.role,
        "profile": profile_body(**profile),
        "is_active": user.is_active,
        "date_joined": timestamp(user.date_joined),
        "last_login": timestamp(user.last_login),
    }


def envelope(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error, "request_id": REQUEST_ID["X-Request-ID"]}


# --- list and filters ------------------------------------------------------------------------------------------


def test_the_list_pages_users_by_username_in_the_contract_shape() -> None:
    admin = user_make(username="ada", role="admin")
    bongani = user_make(username="bongani", role="viewer")
    user_make(username="chidi")

    first = Client().get("/api/users/", {"page_size": 2}, headers=auth(admin))
    second = Client().get("/api/users/", {"page_size": 2, "page": 2}, headers=auth(admin))

    assert first.status_code == 200
    assert first.json() == {
        "count": 3,
        "next": "http://testserver/api/users/?page=2&page_size=2",
        "previous": None,
        "results": [account(admin), account(bongani)],
    }
    assert second.json()["previous"] == "http://testserver/api/users/?page_size=2"
    assert [row["username"] for row in second.json()["results"]] == ["chidi"]


def test_the_list_filters_by_role_active_state_and_search() -> None:
    admin = user_make(username="ada", role="admin")
    user_make(username="bongani", role="viewer", first_name="Bongani", email="b@lab.example")
    user_make(username="chidi", role="viewer", is_active=False)
    user_make(username="dlamini", last_name="Mbongeni")
    client, headers = Client(), auth(admin)

    def usernames(**query: str) -> list[str]:
        return [row["username"] for row in client.get("/api/users/", query, headers=headers).json()["results"]]

    assert usernames(role="viewer") == ["bongani", "chidi"]
    assert usernames(is_active="false") == ["chidi"]
    assert usernames(is_active="true", role="viewer") == ["bongani"]
    assert usernames(search="BONG") == ["bongani", "dlamini"]  # username, first name, last name
    assert usernames(search="lab.example") == ["bongani"]  # email
    assert usernames(role="superhero") == []
    assert usernames(is_active="maybe") == ["ada", "bongani", "chidi", "dlamini"]  # not a filter value: ignored


# --- create ----------------------------------------------------------------------------------------------------


def test_an_admin_creates_a_user_who_can_then_log_in() -> None:
    admin = user_make(role="admin")
    body = {
        "username": "fatou",
        "email": "fatou@example.org",
        "password": NEW_PASSWORD,
        "first_name": "Fatou",
        "last_name": "Sow",
        "role": "service_user",
    }

    response = post(Client(), "/api/users/", body, **auth(admin))

    created = User.objects.get(username="fatou")
    assert response.status_code == 201
    assert response.json() == {
        "id": created.pk,
        "username": "fatou",
        "email": "fatou@example.org",
        "first_name": "Fatou",
        "last_name": "Sow",
        "is_staff": False,
        "role": "service_user",
        "profile": profile_body(),
        "is_active": True,
        "date_joined": timestamp(created.date_joined),
        "last_login": None,
    }
    assert list(OutboxEvent.objects.values_list("topic", flat=True)) == ["user.action.logged"]
    assert last_event() == {
        "actor_id": admin.pk,
        "action": "user_created",
        "resource_type": "user",
        "resource_id": str(created.pk),
        "ip": "127.0.0.1",
        "user_agent": "",
        "details": {"role": "service_user"},
    }
    assert login(Client(), "fatou", NEW_PASSWORD).status_code == 200


def test_a_user_created_as_admin_is_staff_and_first_and_last_names_are_optional() -> None:
    admin = user_make(role="admin")

    response = post(
        Client(),
        "/api/users/",
        {"username": "kofi", "email": "kofi@example.org", "password": NEW_PASSWORD, "role": "admin"},
        **auth(admin),
    )

    assert response.status_code == 201
    assert response.json() == account(User.objects.get(username="kofi"))
    assert (response.json()["role"], response.json()["is_staff"]) == ("admin", True)
    assert (response.json()["first_name"], response.json()["last_name"]) == ("", "")


def test_a_weak_password_is_refused_naming_the_password_and_nobody_is_created() -> None:
    admin = user_make(role="admin")

    response = post(
        Client(),
        "/api/users/",
        {"username": "kofi", "email": "kofi@example.org", "password": "password", "role": "viewer"},
        **auth(admin),
        **REQUEST_ID,
    )

    assert response.status_code == 400
    assert response.json() == envelope(
        "VALIDATION_ERROR",
        "The password is not acceptable.",
        {
            "password": [
                "This password is too short. It must contain at least 10 characters.",
                "This password is too common.",
            ]
        },
    )
    assert not User.objects.filter(username="kofi").exists()
    assert actions() == []


def test_a_taken_username_is_refused() -> None:
    admin = user_make(role="admin")
    user_make(username="kofi")

    response = post(
        Client(),
        "/api/users/",
        {"username": "kofi", "email": "other@example.org", "password": NEW_PASSWORD, "role": "viewer"},
        **auth(admin),
        **REQUEST_ID,
    )

    assert response.status_code == 400
    assert response.json() == envelope(
        "VALIDATION_ERROR",
        "The account details are not valid.",
        {"username": ["A user with that username already exists."]},
    )
    assert User.objects.filter(username="kofi").count() == 1
    assert actions() == []


def test_a_role_that_does_not_exist_is_refused() -> None:
    admin = user_make(role="admin")

    response = post(
        Client(),
        "/api/users/",
        {"username": "kofi", "email": "kofi@example.org", "password": NEW_PASSWORD, "role": "superhero"},
        **auth(admin),
        **REQUEST_ID,
    )

    assert response.status_code == 400
    assert response.json() == envelope(
        "VALIDATION_ERROR", "Invalid input.", {"role": ['"superhero" is not a valid choice.']}
    )
    assert not User.objects.filter(username="kofi").exists()


# --- detail, update, delete ------------------------------------------------------------------------------------


def test_an_admin_reads_one_user() -> None:
    admin = user_make(role="admin")
    user = user_make(username="amara", role="researcher", first_name="Amara")

    response = Client().get(f"/api/users/{user.pk}/", headers=auth(admin))

    assert response.status_code == 200
    assert response.json() == account(user)
    assert (response.json()["username"], response.json()["first_name"]) == ("amara", "Amara")


def test_a_role_change_moves_staff_status_with_the_admin_role() -> None:
    admin = user_make(role="admin")
    user = user_make(role="researcher")
    client, headers = Client(), auth(admin)

    promoted = patch(client, f"/api/users/{user.pk}/", {"role": "admin"}, headers)
    demoted = patch(client, f"/api/users/{user.pk}/", {"role": "viewer", "first_name": "Zola"}, headers)

    assert promoted.status_code == 200
    assert (promoted.json()["role"], promoted.json()["is_staff"]) == ("admin", True)
    assert demoted.json() == account(user)
    assert (demoted.json()["role"], demoted.json()["is_staff"], demoted.json()["first_name"]) == (
        "viewer",
        False,
        "Zola",
    )
    assert actions() == ["user_updated", "user_updated"]
    assert last_event()["details"] == {"changed": ["first_name", "role"], "role": "viewer"}


def test_an_admin_sets_a_users_profile_and_quotas() -> None:
    admin = user_make(role="admin")
    user = user_make()

    response = patch(
        Client(),
        f"/api/users/{user.pk}/",
        {"profile": {"organization": "H3Africa", "monthly_job_quota": 5, "storage_quota_bytes": 1024}},
        auth(admin),
    )

    assert response.status_code == 200
    assert response.json() == account(user, organization="H3Africa", monthly_jobs=5, storage_bytes=1024)
    assert last_event() == {
        "actor_id": admin.pk,
        "action": "user_updated",
        "resource_type": "user",
        "resource_id": str(user.pk),
        "ip": "127.0.0.1",
        "user_agent": "",
        "details": {"changed": ["monthly_job_quota", "organization", "storage_quota_bytes"]},
    }


@pytest.mark.parametrize(
    ("profile", "field", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone", "The profile is not valid."),
        ({"country": "za"}, "country", "The profile is not valid."),
        ({"monthly_job_quota": -1}, "monthly_job_quota", "Invalid input."),
    ],
)
def test_an_invalid_profile_value_is_refused_naming_the_field(
    profile: dict[str, Any], field: str, message: str
) -> None:
    admin = user_make(role="admin")
    user = user_make()

    response = patch(Client(), f"/api/users/{user.pk}/", {"profile": profile}, auth(admin))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert response.json()["error"]["message"] == message
    assert list(response.json()["error"]["details"]) == [field]
    assert account(user)["profile"] == profile_body()
    assert actions() == []


def test_a_deleted_user_is_gone() -> None:
    admin = user_make(role="admin")
    user = user_make(username="leaving")
    client, headers = Client(), auth(admin)

    deleted = delete(client, f"/api/users/{user.pk}/", headers)
    again = client.get(f"/api/users/{user.pk}/", headers={**headers, **REQUEST_ID})

    assert (deleted.status_code, deleted.content) == (204, b"")
    assert again.status_code == 404
    assert again.json() == envelope("NOT_FOUND", "Not found.")
    assert not User.objects.filter(pk=user.pk).exists()
    assert last_event() == {
        "actor_id": admin.pk,
        "action": "user_deleted",
        "resource_type": "user",
        "resource_id": str(user.pk),
        "ip": "127.0.0.1",
        "user_agent": "",
        "details": {"username": "leaving"},
    }


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("patch", ""), ("delete", ""), ("post", "reset_password/"), ("post", "toggle_active/")],
)
def test_a_user_that_does_not_exist_is_not_found(method: str, suffix: str) -> None:
    admin = user_make(role="admin")
    body = {"new_password": NEW_PASSWORD} if suffix == "reset_password/" else {"first_name": "X"}

    response = getattr(Client(), method)(
        f"/api/users/999999/{suffix}",
        body if method != "get" else None,
        content_type="application/json",
        headers={**auth(admin), **REQUEST_ID},
    )

    assert response.status_code == 404
    assert response.json() == envelope("NOT_FOUND", "Not found.")
    assert actions() == []


# --- an admin cannot lock themselves out -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("delete", "", None, "You cannot delete your own account; ask another administrator."),
        ("post", "toggle_active/", {}, "You cannot deactivate your own account; ask another administrator."),
        (
            "patch",
            "",
            {"role": "researcher"},
            "You cannot take the admin role from your own account; ask another administrator.",
        ),
    ],
)
def test_an_admin_cannot_delete_deactivate_or_demote_themselves(
    method: str, path: str, body: dict[str, Any] | None, message: str
) -> None:
    admin = user_make(role="admin")

    response = getattr(Client(), method)(
        f"/api/users/{admin.pk}/{path}", body, content_type="application/json", headers={**auth(admin), **REQUEST_ID}
    )

    assert response.status_code == 409
    assert response.json() == envelope("CONFLICT", message)
    admin.refresh_from_db()
    assert (admin.role, admin.is_active) == ("admin", True)
    assert actions() == []


def test_an_admin_may_still_edit_their_own_names_and_keep_the_admin_role() -> None:
    admin = user_make(role="admin")

    response = patch(Client(), f"/api/users/{admin.pk}/", {"role": "admin", "last_name": "Okafor"}, auth(admin))

    assert response.status_code == 200
    assert (response.json()["role"], response.json()["is_staff"], response.json()["last_name"]) == (
        "admin",
        True,
        "Okafor",
    )


# --- reset_password and toggle_active --------------------------------------------------------------------------


def test_a_password_reset_replaces_the_password_and_ends_the_users_sessions() -> None:
    admin = user_make(role="admin")
    user = user_make(username="thandi")
    session = login(Client(), "thandi").json()

    response = post(Client(), f"/api/users/{user.pk}/reset_password/", {"new_password": NEW_PASSWORD}, **auth(admin))

    assert response.status_code == 200
    assert response.json() == {"detail": "Password reset; the user's sessions have ended."}
    assert post(Client(), "/api/auth/refresh/", {"refresh": session["refresh"]}).json()["error"] == REFRESH_REFUSED
    assert login(Client(), "thandi", PASSWORD).json()["error"] == LOGIN_REFUSED
    assert login(Client(), "thandi", NEW_PASSWORD).status_code == 200
    assert actions() == ["login", "password_reset", "login_failed", "login"]
    assert event_of("password_reset") == {
        "actor_id": admin.pk,
        "action": "password_reset",
        "resource_type": "user",
        "resource_id": str(user.pk),
        "ip": "127.0.0.1",
        "user_agent": "",
        "details": {},
    }


def test_a_weak_reset_password_is_refused_naming_new_password() -> None:
    admin = user_make(role="admin")
    user = user_make(username="amara-okafor")  # a random name can be digit-heavy enough to resemble the password

    response = post(
        Client(), f"/api/users/{user.pk}/reset_password/", {"new_password": "12345678901"}, **auth(admin), **REQUEST_ID
    )

    assert response.status_code == 400
    assert response.json() == envelope(
        "VALIDATION_ERROR",
        "The new password is not acceptable.",
        {"new_password": ["This password is too common.", "This password is entirely numeric."]},
    )
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert actions() == []


def test_a_deactivated_user_cannot_log_in_or_refresh_until_reactivated() -> None:
    admin = user_make(role="admin")
    user = user_make(username="sipho")
    session = login(Client(), "sipho").json()
    client, headers = Client(), auth(admin)

    off = post(client, f"/api/users/{user.pk}/toggle_active/", {}, **headers)
    refused_login = login(Client(), "sipho")
    refused_refresh = post(Client(), "/api/auth/refresh/", {"refresh": session["refresh"]})
    on = post(client, f"/api/users/{user.pk}/toggle_active/", {}, **headers)

    assert off.status_code == 200
    assert off.json() == {**account(user), "is_active": False}
    assert refused_login.status_code == 401
    assert refused_login.json()["error"] == LOGIN_REFUSED
    assert refused_refresh.status_code == 401
    assert refused_refresh.json()["error"] == REFRESH_REFUSED
    assert on.json() == account(user)
    assert on.json()["is_active"] is True
    assert login(Client(), "sipho").status_code == 200
    assert post(Client(), "/api/auth/refresh/", {"refresh": session["refresh"]}).status_code == 401  # stays revoked
    assert actions() == ["login", "user_deactivated", "login_failed", "user_activated", "login"]
    assert event_of("user_deactivated") == {
        "actor_id": admin.pk,
        "action": "user_deactivated",
        "resource_type": "user",
        "resource_id": str(user.pk),
        "ip": "127.0.0.1",
        "user_agent": "",
        "details": {},
    }


# --- roles -----------------------------------------------------------------------------------------------------


def test_the_roles_are_the_five_of_the_contract_with_their_capabilities() -> None:
    response = Client().get("/api/roles/", headers=auth(user_make(role="viewer")))

    assert response.status_code == 200
    everything = ["admin", "manage_jobs", "submit_jobs", "view", "view_jobs"]
    assert response.json() == {
        "count": 5,
        "next": None,
        "previous": None,
        "results": [
            {
                "name": "admin",
                "label": "Administrator",
                "capabilities": [
                    "manage_permissions",
                    "manage_services",
                    "manage_users",
                    "submit_jobs",
                    "view_all_jobs",
                    "view_audit_log",
                    "view_services",
                ],
                "service_permissions": everything,
                "grantable_service_permissions": everything,
            },
            {
                "name": "service_admin",
                "label": "Service administrator",
                "capabilities": [
                    "manage_permissions",
                    "manage_services",
                    "submit_jobs",
                    "view_all_jobs",
                    "view_services",
                ],
                "service_permissions": everything,
                "grantable_service_permissions": everything,
            },
            {
                "name": "researcher",
                "label": "Researcher",
                "capabilities": ["submit_jobs", "view_services"],
                "service_permissions": ["submit_jobs", "view"],
                "grantable_service_permissions": everything,
            },
            {
                "name": "service_user",
                "label": "Service user",
                "capabilities": ["submit_jobs", "view_services"],
                "service_permissions": ["view"],
                "grantable_service_permissions": ["submit_jobs", "view", "view_jobs"],
            },
            {
                "name": "viewer",
                "label": "Viewer",
                "capabilities": ["view_services"],
                "service_permissions": ["view"],
                "grantable_service_permissions": ["view", "view_jobs"],
            },
        ],
    }


# --- one's own profile -----------------------------------------------------------------------------------------


def test_a_user_reads_their_own_profile() -> None:
    user = user_make(role="viewer")

    response = Client().get("/api/profiles/me/", headers=auth(user))

    assert response.status_code == 200
    assert response.json() == profile_body()


def test_a_user_changes_their_own_profile_fields() -> None:
    user = user_make(role="viewer")
    changes = {
        "organization": "AWI-Gen",
        "institution": "Wits",
        "country": "ZA",
        "timezone": "Africa/Johannesburg",
        "email_notifications": False,
    }

    response = patch(Client(), "/api/profiles/me/", changes, auth(user))

    assert response.status_code == 200
    assert response.json() == profile_body(**changes)
    assert Client().get("/api/profiles/me/", headers=auth(user)).json() == profile_body(**changes)
    assert last_event() == {
        "actor_id": user.pk,
        "action": "profile_updated",
        "resource_type": "user",
        "resource_id": str(user.pk),
        "ip": "127.0.0.1",
        "user_agent": "",
        "details": {"changed": sorted(changes)},
    }


def test_quota_and_unknown_fields_of_ones_own_profile_are_refused_by_name() -> None:
    user = user_make()

    response = patch(
        Client(),
        "/api/profiles/me/",
        {"organization": "AWI-Gen", "monthly_job_quota": 10_000, "storage_quota_bytes": 1, "is_staff": True},
        {**auth(user), **REQUEST_ID},
    )

    assert response.status_code == 400
    assert response.json() == envelope(
        "VALIDATION_ERROR",
        "Invalid input.",
        {
            "is_staff": ["This field cannot be changed here."],
            "monthly_job_quota": ["This field cannot be changed here."],
            "storage_quota_bytes": ["This field cannot be changed here."],
        },
    )
    assert Client().get("/api/profiles/me/", headers=auth(user)).json() == profile_body()
    assert actions() == []


@pytest.mark.parametrize(
    ("changes", "field", "message", "detail"),
    [
        (
            {"timezone": "Mars/Olympus"},
            "timezone",
            "The profile is not valid.",
            "'Mars/Olympus' is not an IANA time zone name (e.g. 'UTC', 'Africa/Nairobi').",
        ),
        (
            {"country": "za"},
            "country",
            "The profile is not valid.",
            "Use an ISO 3166-1 alpha-2 country code such as 'ZA'.",
        ),
        (
            {"country": "ZAF"},
            "country",
            "Invalid input.",
            "Ensure this field has no more than 2 characters.",
        ),
    ],
)
def test_an_invalid_time_zone_or_country_is_refused_naming_the_field(
    changes: dict[str, str], field: str, message: str, detail: str
) -> None:
    user = user_make()

    response = patch(Client(), "/api/profiles/me/", changes, {**auth(user), **REQUEST_ID})

    assert response.status_code == 400
    assert response.json() == envelope("VALIDATION_ERROR", message, {field: [detail]})
    assert actions() == []


# --- who may call ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["service_admin", "researcher", "service_user", "viewer"])
def test_anyone_but_an_admin_is_refused_user_management_without_data(role: str) -> None:
    other = user_make(username="someone-else")

    response = Client().get(f"/api/users/{other.pk}/", headers={**auth(user_make(role=role)), **REQUEST_ID})

    assert response.status_code == 403
    assert response.json() == envelope(
        "AUTHORIZATION_ERROR", "This needs the 'manage_users' capability, which your role does not have."
    )


@pytest.mark.parametrize("path", ["/api/users/", "/api/roles/", "/api/profiles/me/"])
def test_an_anonymous_caller_is_asked_to_authenticate(path: str) -> None:
    response = Client().get(path, headers=REQUEST_ID)

    assert response.status_code == 401
    assert response.json() == envelope("AUTHENTICATION_ERROR", "Authentication credentials were not provided.")
