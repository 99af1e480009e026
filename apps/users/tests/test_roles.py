"""The role capability table: what each role may do, exactly, and how superusers and inactive users count."""

from __future__ import annotations

import pytest

from apps.users.models import Role, User
from apps.users.roles import ROLE_CAPABILITIES, Capability, role_capabilities, user_can, user_capabilities

EXPECTED = {
    "admin": {
        "manage_users",
        "view_audit_log",
        "manage_services",
        "manage_permissions",
        "view_all_jobs",
        "submit_jobs",
        "view_services",
    },
    "service_admin": {"manage_services", "manage_permissions", "view_all_jobs", "submit_jobs", "view_services"},
    "researcher": {"submit_jobs", "view_services"},
    "service_user": {"submit_jobs", "view_services"},
    "viewer": {"view_services"},
}


def test_every_role_has_exactly_its_documented_capabilities() -> None:
    table = {str(role): {str(capability) for capability in caps} for role, caps in ROLE_CAPABILITIES.items()}

    assert table == EXPECTED
    assert set(ROLE_CAPABILITIES) == set(Role)


def test_an_unknown_role_name_has_no_capability() -> None:
    assert role_capabilities("superhero") == frozenset()


def test_a_superuser_has_every_capability_whatever_its_role() -> None:
    user = User(username="root", role=Role.VIEWER, is_superuser=True)

    assert user_capabilities(user) == frozenset(Capability)


def test_an_inactive_user_has_no_capability() -> None:
    user = User(username="gone", role=Role.ADMIN, is_active=False)

    assert user_capabilities(user) == frozenset()


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.ADMIN, True),
        (Role.SERVICE_ADMIN, True),
        (Role.RESEARCHER, True),
        (Role.SERVICE_USER, True),
        (Role.VIEWER, False),
    ],
)
def test_who_may_submit_jobs(role: Role, allowed: bool) -> None:
    assert user_can(User(username="u", role=role), Capability.SUBMIT_JOBS) is allowed


def test_the_table_in_the_module_docstring_matches_the_code() -> None:
    import apps.users.roles as roles

    doc = roles.__doc__ or ""
    rows = {
        cells[0]: {role for role, mark in zip(EXPECTED, cells[1:], strict=True) if mark == "x"}
        for line in doc.splitlines()
        if line.startswith("| ") and not line.startswith("| capability")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }

    assert rows == {cap: {role for role, caps in EXPECTED.items() if cap in caps} for cap in map(str, Capability)}
