"""API_CONTRACT.md "users context": every endpoint, the same requests against every target.

Targets: `app` (the in-process context behind the gateway middleware) and `remote` (a real gateway process
proxying to a real users deployable). A legacy target joins the parametrisation once legacy serves users.
Bodies are compared by their exact keys and meaningful values; every error is the contract's envelope.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.users.tests.factories import PASSWORD
from tests.contract.fixtures import UsersApi
from tests.contract.targets import Reply

pytestmark = [pytest.mark.django_db(databases=["users"]), pytest.mark.redis]

PROFILE_KEYS = {"organization", "institution", "country", "timezone", "email_notifications", "quotas"}
USER_KEYS = {"id", "username", "email", "first_name", "last_name", "is_staff", "role", "profile"}
MANAGED_USER_KEYS = USER_KEYS | {"is_active", "date_joined", "last_login"}
PAGE_KEYS = {"count", "next", "previous", "results"}
GRANT_KEYS = {
    "id",
    "user_id",
    "username",
    "service_id",
    "permission",
    "expires_at",
    "is_expired",
    "granted_by_id",
    "granted_at",
}
GROUP_KEYS = {"id", "name", "service_id", "description", "permissions", "members", "created_at"}
CREDENTIAL_KEYS = {
    "id",
    "service_id",
    "label",
    "has_token",
    "token_last4",
    "is_verified",
    "last_verified_at",
    "last_used_at",
    "expires_at",
    "is_expired",
    "created_at",
    "updated_at",
}
AUDIT_KEYS = {
    "id",
    "event_id",
    "occurred_at",
    "recorded_at",
    "source",
    "actor_id",
    "action",
    "resource_type",
    "resource_id",
    "ip",
    "user_agent",
    "request_id",
    "details",
}


def _error(reply: Reply, status: int, code: str) -> dict[str, Any]:
    assert reply.status == status, reply.body
    assert set(reply.body) == {"error", "request_id"}
    assert reply.body["error"]["code"] == code
    assert reply.body["request_id"] == reply.headers["x-request-id"]
    return dict(reply.body["error"])


def _service() -> int:
    return 1000 + uuid.uuid4().int % 1_000_000


def _name() -> str:
    return f"k-{uuid.uuid4().hex[:12]}"


def _login(api: UsersApi, username: str, password: str = PASSWORD) -> Reply:
    return api.call("POST", "/api/auth/login/", {"username": username, "password": password})


def _account(api: UsersApi, role: str = "researcher") -> tuple[int, str, str]:
    """id, username and a fresh refresh token of a new account."""
    name = _name()
    created = api.ok(
        "POST", "/api/users/", {"username": name, "email": f"{name}@example.org", "password": PASSWORD, "role": role}
    )
    return created["id"], name, _login(api, name).body["refresh"]


# --- auth ------------------------------------------------------------------------------------------------


def test_login_returns_tokens_and_the_user(users_api: UsersApi) -> None:
    user_id, name, _ = _account(users_api)

    reply = _login(users_api, name)

    assert reply.status == 200
    assert set(reply.body) == {"access", "refresh", "user"}
    assert set(reply.body["user"]) == USER_KEYS
    assert (reply.body["user"]["id"], reply.body["user"]["username"]) == (user_id, name)
    assert set(reply.body["user"]["profile"]) == PROFILE_KEYS


def test_login_with_a_wrong_password_is_401(users_api: UsersApi) -> None:
    _, name, _ = _account(users_api)

    error = _error(_login(users_api, name, "not-the-password-at-all"), 401, "AUTHENTICATION_ERROR")

    assert error["message"] == "No active account found with the given credentials."


def test_repeated_login_failures_lock_out_with_429(users_api: UsersApi) -> None:
    _, name, _ = _account(users_api)
    for _ in range(5):
        _login(users_api, name, "wrong-password-again")

    locked = _login(users_api, name)

    _error(locked, 429, "RATE_LIMIT_EXCEEDED")
    assert int(locked.headers["retry-after"]) > 0


def test_refresh_rotates_and_the_old_refresh_token_is_refused(users_api: UsersApi) -> None:
    _, _, refresh = _account(users_api)

    rotated = users_api.call("POST", "/api/auth/refresh/", {"refresh": refresh})
    replayed = users_api.call("POST", "/api/auth/refresh/", {"refresh": refresh})

    assert rotated.status == 200
    assert set(rotated.body) == {"access", "refresh"}
    assert rotated.body["refresh"] != refresh
    _error(replayed, 401, "AUTHENTICATION_ERROR")


def test_logout_revokes_the_refresh_token(users_api: UsersApi) -> None:
    _, name, _ = _account(users_api)
    tokens = _login(users_api, name).body

    logout = users_api.call("POST", "/api/auth/logout/", {"refresh": tokens["refresh"]}, token=tokens["access"])
    refresh = users_api.call("POST", "/api/auth/refresh/", {"refresh": tokens["refresh"]})

    assert logout.status == 205
    _error(refresh, 401, "AUTHENTICATION_ERROR")


def test_current_user(users_api: UsersApi) -> None:
    user_id, name, _ = _account(users_api, role="viewer")
    access = _login(users_api, name).body["access"]

    body = users_api.ok("GET", "/api/auth/user/", token=access)

    assert set(body) == USER_KEYS
    assert (body["id"], body["username"], body["role"], body["is_staff"]) == (user_id, name, "viewer", False)
    assert body["profile"]["quotas"] == {"monthly_jobs": 100, "storage_bytes": 50 * 1024**3}


def test_change_password(users_api: UsersApi) -> None:
    _, name, _ = _account(users_api)
    access = _login(users_api, name).body["access"]
    new_password = "saffron-meadow-copper-88"

    wrong = users_api.call(
        "POST",
        "/api/auth/change-password/",
        {"current_password": "not-it-at-all", "new_password": new_password},
        token=access,
    )
    weak = users_api.call(
        "POST", "/api/auth/change-password/", {"current_password": PASSWORD, "new_password": "12345"}, token=access
    )
    changed = users_api.call(
        "POST", "/api/auth/change-password/", {"current_password": PASSWORD, "new_password": new_password}, token=access
    )

    assert list(_error(wrong, 400, "VALIDATION_ERROR")["details"]) == ["current_password"]
    assert list(_error(weak, 400, "VALIDATION_ERROR")["details"]) == ["new_password"]
    assert changed.status == 200
    assert set(changed.body) == {"detail", "access", "refresh"}
    assert _login(users_api, name, new_password).status == 200


def test_registration_is_off_by_default(users_api: UsersApi) -> None:
    name = _name()

    reply = users_api.call(
        "POST", "/api/auth/register/", {"username": name, "email": f"{name}@example.org", "password": PASSWORD}
    )

    _error(reply, 404, "NOT_FOUND")


# --- users, roles, profiles ---------------------------------------------------------------------------------


def test_users_crud(users_api: UsersApi) -> None:
    name = _name()
    created = users_api.call(
        "POST",
        "/api/users/",
        {"username": name, "email": f"{name}@example.org", "password": PASSWORD, "role": "service_user"},
        token=users_api.admin_token,
    )
    user_id = created.body["id"]
    listed = users_api.ok("GET", f"/api/users/?search={name}")
    patched = users_api.ok(
        "PATCH", f"/api/users/{user_id}/", {"first_name": "Ada", "role": "admin", "profile": {"monthly_job_quota": 3}}
    )
    deleted = users_api.call("DELETE", f"/api/users/{user_id}/", token=users_api.admin_token)
    gone = users_api.call("GET", f"/api/users/{user_id}/", token=users_api.admin_token)

    assert created.status == 201
    assert set(created.body) == MANAGED_USER_KEYS
    assert (created.body["role"], created.body["is_active"], created.body["last_login"]) == ("service_user", True, None)
    assert set(listed) == PAGE_KEYS
    assert [user["id"] for user in listed["results"]] == [user_id]
    assert (patched["first_name"], patched["role"], patched["is_staff"]) == ("Ada", "admin", True)
    assert patched["profile"]["quotas"]["monthly_jobs"] == 3
    assert deleted.status == 204
    _error(gone, 404, "NOT_FOUND")


def test_user_create_with_an_unknown_role_names_the_field(users_api: UsersApi) -> None:
    name = _name()

    reply = users_api.call(
        "POST",
        "/api/users/",
        {"username": name, "email": f"{name}@example.org", "password": PASSWORD, "role": "overlord"},
        token=users_api.admin_token,
    )

    assert list(_error(reply, 400, "VALIDATION_ERROR")["details"]) == ["role"]


def test_reset_password_and_toggle_active(users_api: UsersApi) -> None:
    user_id, name, refresh = _account(users_api)
    new_password = "walnut-harbour-signal-31"

    reset = users_api.ok("POST", f"/api/users/{user_id}/reset_password/", {"new_password": new_password})
    old_login = _login(users_api, name)
    old_refresh = users_api.call("POST", "/api/auth/refresh/", {"refresh": refresh})
    toggled = users_api.ok("POST", f"/api/users/{user_id}/toggle_active/", {})
    inactive_login = _login(users_api, name, new_password)
    back = users_api.ok("POST", f"/api/users/{user_id}/toggle_active/", {})

    assert reset == {"detail": "Password reset; the user's sessions have ended."}
    _error(old_login, 401, "AUTHENTICATION_ERROR")
    _error(old_refresh, 401, "AUTHENTICATION_ERROR")
    assert toggled["is_active"] is False
    _error(inactive_login, 401, "AUTHENTICATION_ERROR")
    assert back["is_active"] is True
    assert _login(users_api, name, new_password).status == 200


def test_roles(users_api: UsersApi) -> None:
    body = users_api.ok("GET", "/api/roles/")

    assert set(body) == PAGE_KEYS
    assert [role["name"] for role in body["results"]] == [
        "admin",
        "service_admin",
        "researcher",
        "service_user",
        "viewer",
    ]
    viewer = body["results"][-1]
    assert (viewer["capabilities"], viewer["service_permissions"]) == (["view_services"], ["view"])


def test_own_profile(users_api: UsersApi) -> None:
    _, name, _ = _account(users_api)
    access = _login(users_api, name).body["access"]

    patched = users_api.ok(
        "PATCH",
        "/api/profiles/me/",
        {"country": "KE", "timezone": "Africa/Nairobi", "institution": "KEMRI"},
        token=access,
    )
    quota = users_api.call("PATCH", "/api/profiles/me/", {"monthly_job_quota": 10_000}, token=access)
    bad_zone = users_api.call("PATCH", "/api/profiles/me/", {"timezone": "Mars/Olympus"}, token=access)
    fetched = users_api.ok("GET", "/api/profiles/me/", token=access)

    assert set(patched) == PROFILE_KEYS
    assert (patched["country"], patched["timezone"], patched["institution"]) == ("KE", "Africa/Nairobi", "KEMRI")
    assert list(_error(quota, 400, "VALIDATION_ERROR")["details"]) == ["monthly_job_quota"]
    assert list(_error(bad_zone, 400, "VALIDATION_ERROR")["details"]) == ["timezone"]
    assert fetched == patched


# --- per-service permissions and groups ------------------------------------------------------------------------


def test_permissions_crud_and_filters(users_api: UsersApi) -> None:
    service_id = _service()
    user_id, _, _ = _account(users_api, role="service_user")
    expiry = (timezone.now() + timedelta(days=30)).replace(microsecond=0)

    created = users_api.call(
        "POST",
        "/api/permissions/",
        {"user_id": user_id, "service_id": service_id, "permission": "submit_jobs"},
        token=users_api.admin_token,
    )
    duplicate = users_api.call(
        "POST",
        "/api/permissions/",
        {"user_id": user_id, "service_id": service_id, "permission": "submit_jobs"},
        token=users_api.admin_token,
    )
    grant_id = created.body["id"]
    patched = users_api.ok("PATCH", f"/api/permissions/{grant_id}/", {"expires_at": expiry.isoformat()})
    listed = users_api.ok("GET", f"/api/permissions/?service={service_id}&user={user_id}")
    revoked = users_api.call("DELETE", f"/api/permissions/{grant_id}/", token=users_api.admin_token)
    after = users_api.ok("GET", f"/api/permissions/?service={service_id}")

    assert created.status == 201
    assert set(created.body) == GRANT_KEYS
    assert (created.body["user_id"], created.body["permission"], created.body["is_expired"]) == (
        user_id,
        "submit_jobs",
        False,
    )
    _error(duplicate, 409, "CONFLICT")
    assert patched["expires_at"] is not None
    assert [grant["id"] for grant in listed["results"]] == [grant_id]
    assert revoked.status == 204
    assert after["count"] == 0


def test_someone_elses_grant_is_404_not_403(users_api: UsersApi) -> None:
    owner_id, _, _ = _account(users_api, role="service_user")
    grant = users_api.ok(
        "POST", "/api/permissions/", {"user_id": owner_id, "service_id": _service(), "permission": "view_jobs"}
    )
    _, name, _ = _account(users_api)
    stranger = _login(users_api, name).body["access"]

    seen = users_api.call("GET", f"/api/permissions/{grant['id']}/", token=stranger)
    removed = users_api.call("DELETE", f"/api/permissions/{grant['id']}/", token=stranger)

    _error(seen, 404, "NOT_FOUND")
    _error(removed, 404, "NOT_FOUND")


def test_groups_crud_and_members(users_api: UsersApi) -> None:
    service_id = _service()
    member_id, member_name, _ = _account(users_api, role="service_user")

    created = users_api.call(
        "POST",
        "/api/groups/",
        {"name": "consortium", "service_id": service_id, "permissions": ["submit_jobs", "view"]},
        token=users_api.admin_token,
    )
    group_id = created.body["id"]
    unknown = users_api.call(
        "POST",
        "/api/groups/",
        {"name": "other", "service_id": service_id, "permissions": ["launch_rockets"]},
        token=users_api.admin_token,
    )
    joined = users_api.ok("POST", f"/api/groups/{group_id}/members/", {"user_id": member_id})
    renamed = users_api.ok("PATCH", f"/api/groups/{group_id}/", {"name": "h3a-consortium"})
    left = users_api.call("DELETE", f"/api/groups/{group_id}/members/{member_id}/", token=users_api.admin_token)
    deleted = users_api.call("DELETE", f"/api/groups/{group_id}/", token=users_api.admin_token)

    assert created.status == 201
    assert set(created.body) == GROUP_KEYS
    assert (created.body["permissions"], created.body["members"]) == (["view", "submit_jobs"], [])
    assert list(_error(unknown, 400, "VALIDATION_ERROR")["details"]) == ["permissions"]
    assert [(member["user_id"], member["username"]) for member in joined["members"]] == [(member_id, member_name)]
    assert renamed["name"] == "h3a-consortium"
    assert (left.status, deleted.status) == (204, 204)
    _error(users_api.call("GET", f"/api/groups/{group_id}/", token=users_api.admin_token), 404, "NOT_FOUND")


# --- credentials and audit log ------------------------------------------------------------------------------------


def test_credentials_are_write_only(users_api: UsersApi) -> None:
    _, name, _ = _account(users_api)
    access = _login(users_api, name).body["access"]
    secret = f"cg-{uuid.uuid4().hex}"
    service_id = _service()

    created = users_api.call(
        "POST", "/api/credentials/", {"service_id": service_id, "token": secret, "label": "mine"}, token=access
    )
    credential_id = created.body["id"]
    replies = [
        created,
        users_api.call("GET", "/api/credentials/", token=access),
        users_api.call("GET", f"/api/credentials/{credential_id}/", token=access),
        users_api.call("PATCH", f"/api/credentials/{credential_id}/", {"label": "renamed"}, token=access),
        users_api.call("POST", f"/api/credentials/{credential_id}/verify/", {}, token=access),
    ]
    deleted = users_api.call("DELETE", f"/api/credentials/{credential_id}/", token=access)

    assert created.status == 201
    assert set(created.body) == CREDENTIAL_KEYS
    assert (created.body["has_token"], created.body["token_last4"], created.body["label"]) == (
        True,
        secret[-4:],
        "mine",
    )
    assert replies[3].body["label"] == "renamed"
    _error(replies[4], 503, "SERVICE_UNAVAILABLE")
    assert deleted.status == 204
    for reply in replies:
        assert secret not in str(reply.body)


def test_someone_elses_credential_is_404(users_api: UsersApi) -> None:
    _, owner, _ = _account(users_api)
    owner_access = _login(users_api, owner).body["access"]
    credential = users_api.ok(
        "POST", "/api/credentials/", {"service_id": _service(), "token": "owner-secret-token"}, token=owner_access
    )
    _, name, _ = _account(users_api)
    stranger = _login(users_api, name).body["access"]

    for method in ("GET", "PATCH", "DELETE"):
        reply = users_api.call(method, f"/api/credentials/{credential['id']}/", {"label": "x"}, token=stranger)
        _error(reply, 404, "NOT_FOUND")


def test_audit_log_list_for_admins_only(users_api: UsersApi) -> None:
    _, name, _ = _account(users_api)
    access = _login(users_api, name).body["access"]

    listed = users_api.ok("GET", "/api/audit-logs/?action=login")
    bad_date = users_api.call("GET", "/api/audit-logs/?start=yesterday", token=users_api.admin_token)
    refused = users_api.call("GET", "/api/audit-logs/", token=access)

    assert set(listed) == PAGE_KEYS
    assert all(set(entry) == AUDIT_KEYS and entry["action"] == "login" for entry in listed["results"])
    assert list(_error(bad_date, 400, "VALIDATION_ERROR")["details"]) == ["start"]
    _error(refused, 403, "AUTHORIZATION_ERROR")


# --- conventions --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/auth/user/",
        "/api/users/",
        "/api/roles/",
        "/api/profiles/me/",
        "/api/permissions/",
        "/api/groups/",
        "/api/credentials/",
        "/api/audit-logs/",
    ],
)
def test_every_endpoint_needs_a_token(users_api: UsersApi, path: str) -> None:
    _error(users_api.call("GET", path), 401, "AUTHENTICATION_ERROR")


def test_a_tampered_token_is_refused(users_api: UsersApi) -> None:
    header, payload, signature = users_api.admin_token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"

    _error(users_api.call("GET", "/api/auth/user/", token=tampered), 401, "AUTHENTICATION_ERROR")


def test_lists_page_by_page(users_api: UsersApi) -> None:
    first = users_api.ok("GET", "/api/roles/?page_size=2")
    last = users_api.ok("GET", "/api/roles/?page_size=2&page=3")
    beyond = users_api.call("GET", "/api/roles/?page_size=2&page=9", token=users_api.admin_token)

    assert (first["count"], len(first["results"]), first["previous"]) == (5, 2, None)
    assert "page=2" in first["next"]
    assert (len(last["results"]), last["next"]) == (1, None)
    _error(beyond, 404, "NOT_FOUND")
