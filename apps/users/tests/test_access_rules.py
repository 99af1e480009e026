"""Per-service access: the table of apps/users/access.py (role base rights, ceilings, implications, superuser,
inactive and unknown roles) and the selectors that read grants and groups from the database (expiry, groups,
which services a user may submit to, and which services' access a user manages)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

import apps.users.access as access_module
from apps.users.access import ROLE_BASE, ROLE_CEILING, effective_permissions, permissions_expand
from apps.users.models import Role, ServicePermission, User
from apps.users.selectors.access import (
    administered_service_ids,
    granted_permissions,
    service_permission_has,
    service_permissions_of,
)
from apps.users.tests.api_helpers import grant_make, group_make
from apps.users.tests.factories import user_make

pytestmark = pytest.mark.django_db(databases=["users"])

ALL = {"view", "submit_jobs", "view_jobs", "manage_jobs", "admin"}

BASE = {
    "admin": ALL,
    "service_admin": ALL,
    "researcher": {"view", "submit_jobs"},
    "service_user": {"view"},
    "viewer": {"view"},
}
WITH_EVERY_GRANT = {
    "admin": ALL,
    "service_admin": ALL,
    "researcher": ALL,
    "service_user": {"view", "submit_jobs", "view_jobs"},
    "viewer": {"view", "view_jobs"},
}


def rights(user: User, granted: list[str]) -> set[str]:
    return {str(right) for right in effective_permissions(user=user, granted=granted)}


@pytest.mark.parametrize("role", list(BASE))
def test_every_role_holds_its_base_rights_on_every_service_without_a_grant(role: str) -> None:
    assert rights(User(username="u", role=role), []) == BASE[role]


@pytest.mark.parametrize("role", list(WITH_EVERY_GRANT))
def test_grants_raise_a_role_only_up_to_its_ceiling(role: str) -> None:
    assert rights(User(username="u", role=role), sorted(ALL)) == WITH_EVERY_GRANT[role]


@pytest.mark.parametrize(
    ("granted", "implied"),
    [
        ("view", {"view"}),
        ("submit_jobs", {"submit_jobs", "view"}),
        ("view_jobs", {"view_jobs", "view"}),
        ("manage_jobs", {"manage_jobs", "view_jobs", "view"}),
        ("admin", ALL),
    ],
)
def test_a_right_implies_the_weaker_ones(granted: str, implied: set[str]) -> None:
    assert {str(right) for right in permissions_expand([granted])} == implied


def test_unknown_permission_names_are_ignored_not_guessed_at() -> None:
    assert permissions_expand(["superpower", "ADMIN", "view_jobs"]) == {"view_jobs", "view"}


def test_an_implied_right_above_the_ceiling_is_cut_off() -> None:
    viewer = User(username="v", role=Role.VIEWER)

    assert rights(viewer, ["manage_jobs"]) == {"view", "view_jobs"}
    assert rights(viewer, ["admin"]) == {"view", "view_jobs"}


def test_a_superuser_holds_every_right_whatever_its_role() -> None:
    assert rights(User(username="root", role=Role.VIEWER, is_superuser=True), []) == ALL


def test_an_inactive_user_holds_no_right_even_as_admin_with_grants() -> None:
    gone = User(username="gone", role=Role.ADMIN, is_superuser=True, is_active=False)

    assert rights(gone, ["admin"]) == set()


def test_an_unknown_role_holds_no_right_and_grants_give_it_none() -> None:
    assert rights(User(username="odd", role="superhero"), ["view", "admin"]) == set()


def test_the_table_in_the_module_docstring_matches_the_code() -> None:
    def parse(cell: str) -> set[str]:
        return ALL if cell in ("all", "-") else {name.strip() for name in cell.split(",")}

    rows = {
        cells[0]: (parse(cells[1]), parse(cells[2]))
        for line in (access_module.__doc__ or "").splitlines()
        if line.startswith("| ") and not line.startswith("| role")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }

    assert rows == {
        str(role): ({str(p) for p in ROLE_BASE[role]}, {str(p) for p in ROLE_CEILING[role]}) for role in Role
    }


# --- the selectors, with grants and groups in the database ---------------------------------------------------


def names(user: User, service_id: int) -> set[str]:
    return {str(right) for right in service_permissions_of(user=user, service_id=service_id)}


def test_a_direct_grant_adds_its_right_on_that_service_only() -> None:
    operator = user_make(role="service_user")
    grant_make(user=operator, service_id=3, permission="view_jobs")

    assert names(operator, 3) == {"view", "view_jobs"}
    assert names(operator, 4) == {"view"}
    assert granted_permissions(user_id=operator.pk, service_id=3) == {"view_jobs"}


def test_an_expired_grant_counts_for_nothing_and_an_unexpired_one_counts() -> None:
    user = user_make(role="service_user")
    now = timezone.now()
    grant_make(user=user, service_id=3, permission="submit_jobs", expires_at=now - timedelta(seconds=1))
    grant_make(user=user, service_id=3, permission="view_jobs", expires_at=now + timedelta(days=1))

    assert granted_permissions(user_id=user.pk, service_id=3) == {"view_jobs"}
    assert names(user, 3) == {"view", "view_jobs"}


def test_a_group_gives_its_members_its_rights_on_its_service() -> None:
    member, outsider = user_make(role="service_user"), user_make(role="service_user")
    group_make(service_id=3, permissions=["submit_jobs", "view_jobs"], members=(member,))

    assert names(member, 3) == {"view", "submit_jobs", "view_jobs"}
    assert names(member, 4) == {"view"}
    assert names(outsider, 3) == {"view"}


def test_direct_grants_and_groups_add_up() -> None:
    user = user_make(role="service_user")
    grant_make(user=user, service_id=3, permission="view_jobs")
    group_make(service_id=3, permissions=["submit_jobs"], members=(user,))

    assert granted_permissions(user_id=user.pk, service_id=3) == {"view_jobs", "submit_jobs"}
    assert names(user, 3) == {"view", "submit_jobs", "view_jobs"}


def test_a_service_user_granted_submit_jobs_on_service_3_may_submit_there_and_not_on_4() -> None:
    user = user_make(role="service_user")
    grant_make(user=user, service_id=3, permission="submit_jobs")

    assert service_permission_has(user=user, service_id=3, permission=ServicePermission.SUBMIT_JOBS) is True
    assert service_permission_has(user=user, service_id=4, permission=ServicePermission.SUBMIT_JOBS) is False


def test_a_viewer_granted_submit_jobs_still_cannot_submit() -> None:
    viewer = user_make(role="viewer")
    grant_make(user=viewer, service_id=3, permission="submit_jobs")
    group_make(service_id=3, permissions=["submit_jobs"], members=(viewer,))

    assert service_permission_has(user=viewer, service_id=3, permission=ServicePermission.SUBMIT_JOBS) is False
    assert names(viewer, 3) == {"view"}


def test_an_inactive_user_holds_nothing_whatever_their_grants() -> None:
    user = user_make(role="researcher", is_active=False)
    grant_make(user=user, service_id=3, permission="admin")

    assert names(user, 3) == set()


@pytest.mark.parametrize("role", ["admin", "service_admin"])
def test_roles_with_manage_permissions_administer_every_service(role: str) -> None:
    assert administered_service_ids(user=user_make(role=role)) is None


def test_a_superuser_administers_every_service_whatever_its_role() -> None:
    assert administered_service_ids(user=user_make(role="viewer", is_superuser=True)) is None


def test_admin_on_a_service_directly_or_through_a_group_makes_its_holder_that_services_manager() -> None:
    researcher = user_make(role="researcher")
    grant_make(user=researcher, service_id=5, permission="admin")
    grant_make(user=researcher, service_id=6, permission="manage_jobs")
    group_make(service_id=7, permissions=["admin"], members=(researcher,))
    group_make(service_id=8, permissions=["view_jobs", "manage_jobs"], members=(researcher,))

    assert administered_service_ids(user=researcher) == {5, 7}


def test_an_expired_admin_grant_manages_nothing() -> None:
    researcher = user_make(role="researcher")
    grant_make(user=researcher, service_id=5, permission="admin", expires_at=timezone.now() - timedelta(minutes=1))

    assert administered_service_ids(user=researcher) == set()


@pytest.mark.parametrize("role", ["service_user", "viewer"])
def test_admin_granted_above_a_roles_ceiling_manages_nothing(role: str) -> None:
    user = user_make(role=role)
    grant_make(user=user, service_id=5, permission="admin")
    group_make(service_id=7, permissions=["admin"], members=(user,))

    assert administered_service_ids(user=user) == set()


def test_a_researcher_without_admin_grants_and_an_inactive_manager_manage_nothing() -> None:
    inactive = user_make(role="researcher", is_active=False)
    grant_make(user=inactive, service_id=5, permission="admin")

    assert administered_service_ids(user=user_make(role="researcher")) == set()
    assert administered_service_ids(user=inactive) == set()
    assert administered_service_ids(user=user_make(role="service_admin", is_active=False)) == set()
