"""Per-service access through the API: /api/permissions/ (grant, list and filter, change expiry, revoke) and
/api/groups/ (CRUD, members), who sees and manages what (own grants only; a service's manager on that service
only; someone else's grant is a 404, never a 403 with data), the audit event of each change, and that grants and
group membership change what the public interface (apps.users.public) reports."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.kernel.timestamps import timestamp
from apps.users.models import ServiceGroup, ServicePermissionGrant, User
from apps.users.public import get_users_service
from apps.users.tests.api_helpers import auth, delete, event_of, grant_make, group_make, last_event, patch
from apps.users.tests.factories import actions, post, user_make

pytestmark = [pytest.mark.redis, pytest.mark.django_db(databases=["users"])]

REQUEST_ID = {"X-Request-ID": "req-users-access-1"}


def envelope(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error, "request_id": REQUEST_ID["X-Request-ID"]}


def grant_body(grant: ServicePermissionGrant, **changes: Any) -> dict[str, Any]:
    """A grant as the API shows it, read back from the database."""
    grant = ServicePermissionGrant.objects.get(pk=grant.pk)
    return {
        "id": grant.pk,
        "user_id": grant.user_id,
        "username": grant.user.username,
        "service_id": grant.service_id,
        "permission": grant.permission,
        "expires_at": timestamp(grant.expires_at),
        "is_expired": False,
        "granted_by_id": grant.granted_by_id,
        "granted_at": timestamp(grant.granted_at),
        **changes,
    }


def group_body(group: ServiceGroup, members: list[User]) -> dict[str, Any]:
    """A group as the API shows it, with `members` in user id order."""
    group = ServiceGroup.objects.get(pk=group.pk)
    added = {membership.user_id: membership.added_at for membership in group.memberships.all()}
    return {
        "id": group.pk,
        "name": group.name,
        "service_id": group.service_id,
        "description": group.description,
        "permissions": group.permissions,
        "members": [
            {"user_id": member.pk, "username": member.username, "added_at": timestamp(added[member.pk])}
            for member in sorted(members, key=lambda member: member.pk)
        ],
        "created_at": timestamp(group.created_at),
    }


def page(*results: dict[str, Any]) -> dict[str, Any]:
    return {"count": len(results), "next": None, "previous": None, "results": list(results)}


def public_rights(user: User, service_id: int) -> set[str]:
    return set(get_users_service().service_permissions(user_id=user.pk, service_id=service_id))


# --- /api/permissions/ -----------------------------------------------------------------------------------------


def test_an_admin_grants_a_right_and_the_user_holds_it_on_that_service() -> None:
    admin = user_make(role="admin")
    operator = user_make(username="operator", role="service_user")

    response = post(
        Client(),
        "/api/permissions/",
        {"user_id": operator.pk, "service_id": 3, "permission": "submit_jobs"},
        **auth(admin),
    )

    grant = ServicePermissionGrant.objects.get()
    assert response.status_code == 201
    assert response.json() == {
        "id": grant.pk,
        "user_id": operator.pk,
        "username": "operator",
        "service_id": 3,
        "permission": "submit_jobs",
        "expires_at": None,
        "is_expired": False,
        "granted_by_id": admin.pk,
        "granted_at": timestamp(grant.granted_at),
    }
    assert public_rights(operator, 3) == {"view", "submit_jobs"}
    assert public_rights(operator, 4) == {"view"}
    assert last_event() == {
        "actor_id": admin.pk,
        "action": "permission_granted",
        "resource_type": "service_permission",
        "resource_id": str(grant.pk),
        "ip": "127.0.0.1",
        "user_agent": "",
        "details": {"user_id": operator.pk, "service_id": 3, "permission": "submit_jobs", "expires_at": None},
    }


def test_a_grant_may_carry_an_expiry() -> None:
    admin = user_make(role="admin")
    user = user_make()
    expires = (timezone.now() + timedelta(days=30)).replace(microsecond=0)

    response = post(
        Client(),
        "/api/permissions/",
        {"user_id": user.pk, "service_id": 3, "permission": "view_jobs", "expires_at": expires.isoformat()},
        **auth(admin),
    )

    assert response.status_code == 201
    assert response.json() == grant_body(ServicePermissionGrant.objects.get(), expires_at=timestamp(expires))
    assert last_event()["details"]["expires_at"] == expires.isoformat()


def test_granting_a_right_the_user_already_holds_is_a_conflict() -> None:
    admin = user_make(role="admin")
    user = user_make()
    grant_make(user=user, service_id=3, permission="view_jobs")

    response = post(
        Client(),
        "/api/permissions/",
        {"user_id": user.pk, "service_id": 3, "permission": "view_jobs"},
        **auth(admin),
        **REQUEST_ID,
    )

    assert response.status_code == 409
    assert response.json() == envelope(
        "CONFLICT",
        f"User {user.pk} already holds 'view_jobs' on service 3; change that grant's expiry instead.",
    )
    assert ServicePermissionGrant.objects.count() == 1
    assert actions() == []


def test_granting_to_a_user_that_does_not_exist_names_user_id() -> None:
    admin = user_make(role="admin")

    response = post(
        Client(),
        "/api/permissions/",
        {"user_id": 999999, "service_id": 3, "permission": "view"},
        **auth(admin),
        **REQUEST_ID,
    )

    assert response.status_code == 400
    assert response.json() == envelope(
        "VALIDATION_ERROR", "No such user.", {"user_id": ["User 999999 does not exist."]}
    )
    assert actions() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"service_id": 3, "permission": "view"}, "user_id"),
        ({"user_id": 1, "service_id": 3, "permission": "superpower"}, "permission"),
        ({"user_id": 1, "service_id": 0, "permission": "view"}, "service_id"),
        ({"user_id": 1, "service_id": 2**64, "permission": "view"}, "service_id"),
    ],
)
def test_an_invalid_grant_is_refused_naming_the_field(body: dict[str, Any], field: str) -> None:
    admin = user_make(role="admin")

    response = post(Client(), "/api/permissions/", body, **auth(admin))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert list(response.json()["error"]["details"]) == [field]
    assert not ServicePermissionGrant.objects.exists()


def test_the_list_filters_by_service_and_user() -> None:
    admin = user_make(role="admin")
    amara, bongani = user_make(), user_make()
    a3 = grant_make(user=amara, service_id=3, permission="view_jobs")
    a4 = grant_make(user=amara, service_id=4, permission="manage_jobs")
    b3 = grant_make(user=bongani, service_id=3, permission="admin")
    client, headers = Client(), auth(admin)

    everything = client.get("/api/permissions/", headers=headers)
    on_3 = client.get("/api/permissions/", {"service": 3}, headers=headers)
    of_amara = client.get("/api/permissions/", {"user": amara.pk}, headers=headers)
    both = client.get("/api/permissions/", {"service": 4, "user": amara.pk}, headers=headers)

    assert everything.json() == page(grant_body(a3), grant_body(b3), grant_body(a4))  # by service, then user
    assert on_3.json() == page(grant_body(a3), grant_body(b3))
    assert of_amara.json() == page(grant_body(a3), grant_body(a4))
    assert both.json() == page(grant_body(a4))


@pytest.mark.parametrize("value", ["three", "-3", "3.0", "²"])
def test_a_filter_that_is_not_a_numeric_id_is_refused(value: str) -> None:
    admin = user_make(role="admin")

    response = Client().get("/api/permissions/", {"service": value}, headers={**auth(admin), **REQUEST_ID})

    assert response.status_code == 400
    assert response.json() == envelope(
        "VALIDATION_ERROR", "Invalid input.", {"service": ["service must be a numeric id."]}
    )


def test_an_expired_grant_is_listed_as_expired() -> None:
    admin = user_make(role="admin")
    grant = grant_make(user=user_make(), service_id=3, permission="view", expires_at=timezone.now() - timedelta(days=1))

    response = Client().get("/api/permissions/", headers=auth(admin))

    assert response.json() == page(grant_body(grant, is_expired=True))


def test_changing_the_expiry_of_a_grant() -> None:
    admin = user_make(role="admin")
    user = user_make(role="service_user")
    grant = grant_make(user=user, service_id=3, permission="submit_jobs")
    past = (timezone.now() - timedelta(hours=1)).replace(microsecond=0)
    client, headers = Client(), auth(admin)

    expired = patch(client, f"/api/permissions/{grant.pk}/", {"expires_at": past.isoformat()}, headers)
    rights_while_expired = public_rights(user, 3)
    cleared = patch(client, f"/api/permissions/{grant.pk}/", {"expires_at": None}, headers)

    assert expired.status_code == 200
    assert expired.json() == grant_body(grant, expires_at=timestamp(past), is_expired=True)
    assert rights_while_expired == {"view"}
    assert cleared.json() == grant_body(grant, expires_at=None, is_expired=False)
    assert public_rights(user, 3) == {"view", "submit_jobs"}
    assert actions() == ["permission_updated", "permission_updated"]
    assert event_of("permission_updated") == {
        "actor_id": admin.pk,
        "action": "permission_updated",
        "resource_type": "service_permission",
        "resource_id": str(grant.pk),
        "ip": "127.0.0.1",
        "user_agent": "",
        "details": {"expires_at": past.isoformat()},
    }


def test_revoking_a_grant_removes_the_right() -> None:
    admin = user_make(role="admin")
    user = user_make(role="service_user")
    grant = grant_make(user=user, service_id=3, permission="submit_jobs")
    client, headers = Client(), auth(admin)

    revoked = delete(client, f"/api/permissions/{grant.pk}/", headers)
    again = client.get(f"/api/permissions/{grant.pk}/", headers={**headers, **REQUEST_ID})

    assert (revoked.status_code, revoked.content) == (204, b"")
    assert again.status_code == 404
    assert again.json() == envelope("NOT_FOUND", "Not found.")
    assert public_rights(user, 3) == {"view"}
    assert last_event() == {
        "actor_id": admin.pk,
        "action": "permission_revoked",
        "resource_type": "service_permission",
        "resource_id": str(grant.pk),
        "ip": "127.0.0.1",
        "user_agent": "",
        "details": {"user_id": user.pk, "service_id": 3, "permission": "submit_jobs"},
    }


# --- who sees and manages which grants -------------------------------------------------------------------------


def test_a_researcher_sees_only_their_own_grants() -> None:
    researcher = user_make(role="researcher")
    own = grant_make(user=researcher, service_id=3, permission="view_jobs")
    grant_make(user=user_make(), service_id=3, permission="view_jobs")
    grant_make(user=user_make(), service_id=4, permission="admin")
    client, headers = Client(), auth(researcher)

    listed = client.get("/api/permissions/", headers=headers)
    filtered = client.get("/api/permissions/", {"service": 4}, headers=headers)
    read = client.get(f"/api/permissions/{own.pk}/", headers=headers)

    assert listed.json() == page(grant_body(own))
    assert filtered.json() == page()
    assert read.json() == grant_body(own)


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_someone_elses_grant_is_not_found_never_forbidden(method: str) -> None:
    researcher = user_make(role="researcher")
    theirs = grant_make(user=user_make(), service_id=3, permission="view_jobs")

    response = getattr(Client(), method)(
        f"/api/permissions/{theirs.pk}/",
        {"expires_at": None} if method == "patch" else None,
        content_type="application/json",
        headers={**auth(researcher), **REQUEST_ID},
    )

    assert response.status_code == 404
    assert response.json() == envelope("NOT_FOUND", "Not found.")
    assert ServicePermissionGrant.objects.filter(pk=theirs.pk, expires_at=None).exists()
    assert actions() == []


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_a_user_may_read_their_own_grant_but_not_change_it(method: str) -> None:
    researcher = user_make(role="researcher")
    own = grant_make(user=researcher, service_id=3, permission="view_jobs")

    response = getattr(Client(), method)(
        f"/api/permissions/{own.pk}/",
        {"expires_at": None} if method == "patch" else None,
        content_type="application/json",
        headers={**auth(researcher), **REQUEST_ID},
    )

    assert response.status_code == 403
    assert response.json() == envelope("AUTHORIZATION_ERROR", "You may not manage access to service 3.")
    assert ServicePermissionGrant.objects.filter(pk=own.pk).exists()
    assert actions() == []


def test_a_user_with_admin_on_service_5_manages_grants_on_5_only() -> None:
    manager = user_make(username="manager", role="researcher")
    own_admin = grant_make(user=manager, service_id=5, permission="admin")
    on_5 = grant_make(user=user_make(), service_id=5, permission="view_jobs")
    on_6 = grant_make(user=user_make(), service_id=6, permission="view_jobs")
    newcomer = user_make(role="service_user")
    client, headers = Client(), auth(manager)

    created = post(
        client, "/api/permissions/", {"user_id": newcomer.pk, "service_id": 5, "permission": "submit_jobs"}, **headers
    )
    refused = post(
        client,
        "/api/permissions/",
        {"user_id": newcomer.pk, "service_id": 6, "permission": "submit_jobs"},
        **headers,
        **REQUEST_ID,
    )
    listed = client.get("/api/permissions/", headers=headers)
    changed = patch(client, f"/api/permissions/{on_5.pk}/", {"expires_at": None}, headers)
    hidden = patch(client, f"/api/permissions/{on_6.pk}/", {"expires_at": None}, headers)
    revoked = delete(client, f"/api/permissions/{on_5.pk}/", headers)

    new_grant = ServicePermissionGrant.objects.get(user=newcomer)
    assert created.status_code == 201
    assert created.json() == grant_body(new_grant)
    assert (new_grant.service_id, new_grant.granted_by_id) == (5, manager.pk)
    assert refused.status_code == 403
    assert refused.json() == envelope("AUTHORIZATION_ERROR", "You may not manage access to service 6.")
    assert [row["id"] for row in listed.json()["results"]] == [own_admin.pk, on_5.pk, new_grant.pk]
    assert changed.status_code == 200
    assert hidden.status_code == 404
    assert revoked.status_code == 204
    assert public_rights(newcomer, 5) == {"view", "submit_jobs"}
    assert public_rights(newcomer, 6) == {"view"}
    assert actions() == ["permission_granted", "permission_updated", "permission_revoked"]


def test_a_service_admin_manages_grants_on_every_service() -> None:
    service_admin = user_make(role="service_admin")
    user = user_make()

    created = [
        post(
            Client(),
            "/api/permissions/",
            {"user_id": user.pk, "service_id": service_id, "permission": "view_jobs"},
            **auth(service_admin),
        ).status_code
        for service_id in (5, 6, 7)
    ]

    assert created == [201, 201, 201]
    assert sorted(ServicePermissionGrant.objects.values_list("service_id", flat=True)) == [5, 6, 7]


# --- /api/groups/ ----------------------------------------------------------------------------------------------


def test_an_admin_creates_a_group_with_its_rights_in_the_tables_order() -> None:
    admin = user_make(role="admin")

    response = post(
        Client(),
        "/api/groups/",
        {"name": "H3Africa", "service_id": 3, "permissions": ["view_jobs", "submit_jobs", "view_jobs"]},
        **auth(admin),
    )

    group = ServiceGroup.objects.get()
    assert response.status_code == 201
    assert response.json() == {
        "id": group.pk,
        "name": "H3Africa",
        "service_id": 3,
        "description": "",
        "permissions": ["submit_jobs", "view_jobs"],
        "members": [],
        "created_at": timestamp(group.created_at),
    }
    assert last_event() == {
        "actor_id": admin.pk,
        "action": "group_created",
        "resource_type": "service_group",
        "resource_id": str(group.pk),
        "ip": "127.0.0.1",
        "user_agent": "",
        "details": {"service_id": 3, "name": "H3Africa", "permissions": ["submit_jobs", "view_jobs"]},
    }


def test_a_group_on_a_service_id_beyond_the_databases_range_is_refused() -> None:
    admin = user_make(role="admin")

    response = post(Client(), "/api/groups/", {"name": "big", "service_id": 2**63, "permissions": []}, **auth(admin))

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "service_id": ["Ensure this value is less than or equal to 9223372036854775807."]
    }
    assert not ServiceGroup.objects.exists()


def test_an_unknown_permission_name_is_refused() -> None:
    admin = user_make(role="admin")

    response = post(
        Client(),
        "/api/groups/",
        {"name": "H3Africa", "service_id": 3, "permissions": ["view", "superpower"]},
        **auth(admin),
        **REQUEST_ID,
    )

    assert response.status_code == 400
    assert response.json() == envelope(
        "VALIDATION_ERROR",
        "Unknown permission.",
        {"permissions": ["'superpower' is not one of view, submit_jobs, view_jobs, manage_jobs, admin."]},
    )
    assert not ServiceGroup.objects.exists()


def test_a_group_name_is_unique_per_service() -> None:
    admin = user_make(role="admin")
    group_make(service_id=3, permissions=["view"], name="H3Africa")
    client, headers = Client(), auth(admin)

    taken = post(
        client, "/api/groups/", {"name": "H3Africa", "service_id": 3, "permissions": []}, **headers, **REQUEST_ID
    )
    elsewhere = post(client, "/api/groups/", {"name": "H3Africa", "service_id": 4, "permissions": []}, **headers)

    assert taken.status_code == 409
    assert taken.json() == envelope("CONFLICT", "Service 3 already has a group named 'H3Africa'.")
    assert elsewhere.status_code == 201
    assert elsewhere.json()["service_id"] == 4
    assert actions() == ["group_created"]


def test_reading_listing_changing_and_deleting_a_group() -> None:
    admin = user_make(role="admin")
    member = user_make()
    group = group_make(service_id=3, permissions=["view"], name="AWI-Gen", members=(member,))
    sibling = group_make(service_id=3, permissions=["view"], name="Sibling")
    other = group_make(service_id=4, permissions=["view"], name="Other")
    client, headers = Client(), auth(admin)

    read = client.get(f"/api/groups/{group.pk}/", headers=headers)
    listed = client.get("/api/groups/", headers=headers)
    on_4 = client.get("/api/groups/", {"service": 4}, headers=headers)
    changed = patch(
        client,
        f"/api/groups/{group.pk}/",
        {"name": "AWI-Gen II", "description": "second wave", "permissions": ["manage_jobs"]},
        headers,
    )
    after_change = group_body(group, [member])
    renamed_to_taken = patch(client, f"/api/groups/{sibling.pk}/", {"name": "AWI-Gen II"}, {**headers, **REQUEST_ID})
    deleted = delete(client, f"/api/groups/{group.pk}/", headers)
    gone = client.get(f"/api/groups/{group.pk}/", headers=headers)

    assert read.status_code == 200
    assert read.json()["members"] == [
        {"user_id": member.pk, "username": member.username, "added_at": read.json()["members"][0]["added_at"]}
    ]
    assert listed.json() == page(read.json(), group_body(sibling, []), group_body(other, []))  # service, name
    assert on_4.json() == page(group_body(other, []))
    assert changed.status_code == 200
    assert changed.json() == after_change
    assert changed.json() == {
        **read.json(),
        "name": "AWI-Gen II",
        "description": "second wave",
        "permissions": ["manage_jobs"],
    }
    assert renamed_to_taken.status_code == 409
    assert renamed_to_taken.json() == envelope("CONFLICT", "This service already has a group named 'AWI-Gen II'.")
    assert ServiceGroup.objects.get(pk=sibling.pk).name == "Sibling"
    assert (deleted.status_code, deleted.content, gone.status_code) == (204, b"", 404)
    assert not ServiceGroup.objects.filter(pk=group.pk).exists()
    assert actions() == ["group_updated", "group_deleted"]
    assert last_event() == {
        "actor_id": admin.pk,
        "action": "group_deleted",
        "resource_type": "service_group",
        "resource_id": str(group.pk),
        "ip": "127.0.0.1",
        "user_agent": "",
        "details": {"service_id": 3, "name": "AWI-Gen II"},
    }


def test_adding_and_removing_members_changes_what_the_public_interface_reports() -> None:
    admin = user_make(role="admin")
    zola = user_make(username="zola", role="service_user")
    amara = user_make(username="amara", role="service_user")
    group = group_make(service_id=3, permissions=["submit_jobs", "view_jobs"])
    client, headers = Client(), auth(admin)
    before = public_rights(zola, 3)

    added_zola = post(client, f"/api/groups/{group.pk}/members/", {"user_id": zola.pk}, **headers)
    with_zola = group_body(group, [zola])
    added_amara = post(client, f"/api/groups/{group.pk}/members/", {"user_id": amara.pk}, **headers)
    with_both = group_body(group, [zola, amara])
    while_member = public_rights(zola, 3), public_rights(zola, 4)
    removed = delete(client, f"/api/groups/{group.pk}/members/{zola.pk}/", headers)

    assert before == {"view"}
    assert added_zola.status_code == 201
    assert added_zola.json() == with_zola
    assert [(m["user_id"], m["username"]) for m in added_zola.json()["members"]] == [(zola.pk, "zola")]
    assert added_amara.json() == with_both
    assert [(m["user_id"], m["username"]) for m in added_amara.json()["members"]] == [
        (zola.pk, "zola"),
        (amara.pk, "amara"),
    ]
    assert while_member == ({"view", "submit_jobs", "view_jobs"}, {"view"})
    assert (removed.status_code, removed.content) == (204, b"")
    assert public_rights(zola, 3) == {"view"}
    assert public_rights(amara, 3) == {"view", "submit_jobs", "view_jobs"}
    assert client.get(f"/api/groups/{group.pk}/", headers=headers).json() == group_body(group, [amara])
    assert actions() == ["group_member_added", "group_member_added", "group_member_removed"]
    assert last_event() == {
        "actor_id": admin.pk,
        "action": "group_member_removed",
        "resource_type": "service_group",
        "resource_id": str(group.pk),
        "ip": "127.0.0.1",
        "user_agent": "",
        "details": {"service_id": 3, "name": group.name, "user_id": zola.pk},
    }


def test_removing_someone_who_is_not_a_member_is_not_found() -> None:
    admin = user_make(role="admin")
    outsider = user_make()
    group = group_make(service_id=3, permissions=["view"])

    response = delete(Client(), f"/api/groups/{group.pk}/members/{outsider.pk}/", {**auth(admin), **REQUEST_ID})

    assert response.status_code == 404
    assert response.json() == envelope("NOT_FOUND", f"User {outsider.pk} is not a member of this group.")
    assert actions() == []


def test_adding_a_user_that_does_not_exist_names_user_id() -> None:
    admin = user_make(role="admin")
    group = group_make(service_id=3, permissions=["view"])

    response = post(Client(), f"/api/groups/{group.pk}/members/", {"user_id": 999999}, **auth(admin), **REQUEST_ID)

    assert response.status_code == 400
    assert response.json() == envelope(
        "VALIDATION_ERROR", "No such user.", {"user_id": ["User 999999 does not exist."]}
    )


def test_a_user_with_admin_on_service_5_through_a_group_manages_groups_on_5_only() -> None:
    manager = user_make(role="researcher")
    managers = group_make(service_id=5, permissions=["admin"], members=(manager,), name="managers")
    other = group_make(service_id=6, permissions=["view_jobs"], name="other")
    newcomer = user_make()
    client, headers = Client(), auth(manager)

    created = post(client, "/api/groups/", {"name": "analysts", "service_id": 5, "permissions": ["view"]}, **headers)
    refused = post(
        client, "/api/groups/", {"name": "analysts", "service_id": 6, "permissions": []}, **headers, **REQUEST_ID
    )
    joined = post(client, f"/api/groups/{created.json()['id']}/members/", {"user_id": newcomer.pk}, **headers)
    hidden = post(client, f"/api/groups/{other.pk}/members/", {"user_id": newcomer.pk}, **headers)
    listed = client.get("/api/groups/", headers=headers)

    assert created.status_code == 201
    assert refused.status_code == 403
    assert refused.json() == envelope("AUTHORIZATION_ERROR", "You may not manage access to service 6.")
    assert joined.status_code == 201
    assert hidden.status_code == 404
    assert [row["name"] for row in listed.json()["results"]] == ["analysts", "managers"]
    assert managers.pk in [row["id"] for row in listed.json()["results"]]
    assert public_rights(newcomer, 5) == {"view", "submit_jobs"}


def test_a_member_sees_their_group_but_may_not_change_it_and_others_do_not_see_it() -> None:
    member, outsider = user_make(role="researcher"), user_make(role="researcher")
    group = group_make(service_id=3, permissions=["view_jobs"], members=(member,))
    client = Client()

    seen = client.get("/api/groups/", headers=auth(member))
    changed = patch(client, f"/api/groups/{group.pk}/", {"name": "mine now"}, {**auth(member), **REQUEST_ID})
    unseen = client.get("/api/groups/", headers=auth(outsider))
    hidden = client.get(f"/api/groups/{group.pk}/", headers={**auth(outsider), **REQUEST_ID})

    assert seen.json() == page(group_body(group, [member]))
    assert changed.status_code == 403
    assert changed.json() == envelope("AUTHORIZATION_ERROR", "You may not manage access to service 3.")
    assert unseen.json() == page()
    assert hidden.status_code == 404
    assert hidden.json() == envelope("NOT_FOUND", "Not found.")
    assert ServiceGroup.objects.get(pk=group.pk).name == group.name
