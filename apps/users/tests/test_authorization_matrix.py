"""Who may call what in the users context's API: every role-gated endpoint against the five roles and an anonymous
caller, as one table of expected statuses (the documented policy at a glance), and every refusal in the error
envelope with the status's code and nothing else (no data about the thing refused).

The caller acts on another user (`{target}`), that user's grant on service 3 (`{grant}`) and a group on service 3
the target belongs to (`{group}`). Someone else's grant or group answers 404 to a caller who may not manage it.
"""

from __future__ import annotations

import json
import re
from fnmatch import fnmatch
from typing import Any

import pytest
from django.test import Client

from apps.users.api.urls import urlpatterns
from apps.users.tests.api_helpers import auth, grant_make, group_make
from apps.users.tests.factories import actions, user_make

pytestmark = [pytest.mark.redis, pytest.mark.django_db(databases=["users"])]

CALLERS = ("admin", "service_admin", "researcher", "service_user", "viewer", "anonymous")

# fmt: off
MATRIX: dict[tuple[str, str], tuple[int, int, int, int, int, int]] = {
    #                                                     admin  s_admin  researcher  s_user  viewer  anon
    ("GET",    "/api/users/"):                           (  200,     403,        403,    403,    403,  401),
    ("POST",   "/api/users/"):                           (  201,     403,        403,    403,    403,  401),
    ("GET",    "/api/users/{target}/"):                  (  200,     403,        403,    403,    403,  401),
    ("PATCH",  "/api/users/{target}/"):                  (  200,     403,        403,    403,    403,  401),
    ("DELETE", "/api/users/{target}/"):                  (  204,     403,        403,    403,    403,  401),
    ("POST",   "/api/users/{target}/reset_password/"):   (  200,     403,        403,    403,    403,  401),
    ("POST",   "/api/users/{target}/toggle_active/"):    (  200,     403,        403,    403,    403,  401),
    ("GET",    "/api/audit-logs/"):                      (  200,     403,        403,    403,    403,  401),
    ("GET",    "/api/permissions/"):                     (  200,     200,        200,    200,    200,  401),
    ("POST",   "/api/permissions/"):                     (  201,     201,        403,    403,    403,  401),
    ("GET",    "/api/permissions/{grant}/"):             (  200,     200,        404,    404,    404,  401),
    ("PATCH",  "/api/permissions/{grant}/"):             (  200,     200,        404,    404,    404,  401),
    ("DELETE", "/api/permissions/{grant}/"):             (  204,     204,        404,    404,    404,  401),
    ("GET",    "/api/groups/"):                          (  200,     200,        200,    200,    200,  401),
    ("POST",   "/api/groups/"):                          (  201,     201,        403,    403,    403,  401),
    ("GET",    "/api/groups/{group}/"):                  (  200,     200,        404,    404,    404,  401),
    ("PATCH",  "/api/groups/{group}/"):                  (  200,     200,        404,    404,    404,  401),
    ("DELETE", "/api/groups/{group}/"):                  (  204,     204,        404,    404,    404,  401),
    ("POST",   "/api/groups/{group}/members/"):          (  201,     201,        404,    404,    404,  401),
    ("DELETE", "/api/groups/{group}/members/{target}/"): (  204,     204,        404,    404,    404,  401),
    ("GET",    "/api/roles/"):                           (  200,     200,        200,    200,    200,  401),
    ("GET",    "/api/profiles/me/"):                     (  200,     200,        200,    200,    200,  401),
    ("PATCH",  "/api/profiles/me/"):                     (  200,     200,        200,    200,    200,  401),
    ("GET",    "/api/credentials/"):                     (  200,     200,        200,    200,    200,  401),
}
# fmt: on

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/users/"): {
        "username": "newcomer",
        "email": "newcomer@example.org",
        "password": "harbour-lantern-quartz-17",
        "role": "viewer",
    },
    ("PATCH", "/api/users/{target}/"): {"first_name": "Renamed"},
    ("POST", "/api/users/{target}/reset_password/"): {"new_password": "harbour-lantern-quartz-17"},
    ("POST", "/api/permissions/"): {"user_id": "{other}", "service_id": 3, "permission": "view_jobs"},
    ("PATCH", "/api/permissions/{grant}/"): {"expires_at": None},
    ("POST", "/api/groups/"): {"name": "new group", "service_id": 3, "permissions": ["view"]},
    ("PATCH", "/api/groups/{group}/"): {"description": "changed"},
    ("POST", "/api/groups/{group}/members/"): {"user_id": "{other}"},
    ("PATCH", "/api/profiles/me/"): {"organization": "AWI-Gen"},
}

CODES = {401: "AUTHENTICATION_ERROR", 403: "AUTHORIZATION_ERROR", 404: "NOT_FOUND"}


def refusal_message(path: str, status: int) -> str:
    if status == 401:
        return "Authentication credentials were not provided."
    if status == 404:
        return "Not found."
    if path.startswith("/api/users/"):
        return "This needs the 'manage_users' capability, which your role does not have."
    if path.startswith("/api/audit-logs/"):
        return "This needs the 'view_audit_log' capability, which your role does not have."
    return "You may not manage access to service 3."


def filled(value: Any, ids: dict[str, int]) -> Any:
    """`value` with each "{name}" string replaced by that id."""
    if isinstance(value, dict):
        return {key: filled(item, ids) for key, item in value.items()}
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    return value


CASES = [
    pytest.param(method, path, caller, expected, id=f"{method} {path} as {caller}")
    for (method, path), statuses in MATRIX.items()
    for caller, expected in zip(CALLERS, statuses, strict=True)
]


def test_the_matrix_names_every_route_of_the_users_api_but_auth_and_ones_own_credentials() -> None:
    def shape(route: str) -> str:
        return re.sub(r"<[^>]+>|\{[^}]+\}", "*", route.strip("/"))

    routes = {shape(str(pattern.pattern)) for pattern in urlpatterns}
    outside = {"api/auth/*", "api/credentials/*", "api/credentials/*/verify", "internal/*"}

    assert {route for route in routes if not any(fnmatch(route, pattern) for pattern in outside)} == {
        shape(path) for _, path in MATRIX
    }
    assert set(BODIES) <= set(MATRIX)


@pytest.mark.parametrize(("method", "path", "caller", "expected"), CASES)
def test_who_may_call_what(method: str, path: str, caller: str, expected: int) -> None:
    target = user_make(role="researcher")
    other = user_make(role="researcher")
    ids = {
        "target": target.pk,
        "other": other.pk,
        "grant": grant_make(user=target, service_id=3, permission="view_jobs").pk,
        "group": group_make(service_id=3, permissions=["view_jobs"], members=(target,)).pk,
    }
    headers = {} if caller == "anonymous" else auth(user_make(role=caller))
    body = filled(BODIES.get((method, path), {}), ids)

    response = Client().generic(
        method,
        path.format(**ids),
        json.dumps(body) if method != "GET" else "",
        content_type="application/json",
        headers={**headers, "X-Request-ID": "req-users-matrix"},
    )

    assert response.status_code == expected, response.content
    if expected == 204:
        assert response.content == b""
    elif expected in CODES:
        assert response.json() == {
            "error": {"code": CODES[expected], "message": refusal_message(path, expected)},
            "request_id": "req-users-matrix",
        }
        assert actions() == []  # a refusal changes nothing, so it records nothing
    else:
        assert "error" not in response.json()
