"""The Django admin changes per-service access through the services, so its edits are audited like the API's."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.users.models import OutboxEvent, ServiceGroup, ServicePermissionGrant
from apps.users.tests.factories import user_make

pytestmark = pytest.mark.django_db(databases=["users"])


def _last_event() -> dict[str, Any]:
    return dict(OutboxEvent.objects.using("users").latest("seq").payload)


def _admin_client() -> tuple[Client, int]:
    admin = user_make(role="admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    return client, admin.pk


def test_adding_a_grant_in_the_admin_records_it_as_granted_by_the_admin() -> None:
    client, admin_id = _admin_client()
    grantee = user_make(role="service_user")

    response = client.post(
        "/admin/users/servicepermissiongrant/add/",
        {"user": grantee.pk, "service_id": 12, "permission": "submit_jobs", "expires_at_0": "", "expires_at_1": ""},
    )

    grant = ServicePermissionGrant.objects.get()
    assert response.status_code == 302
    assert (grant.user_id, grant.service_id, grant.permission, grant.granted_by_id) == (
        grantee.pk,
        12,
        "submit_jobs",
        admin_id,
    )
    event = _last_event()
    assert (event["action"], event["actor_id"], event["resource_id"]) == ("permission_granted", admin_id, str(grant.pk))


def test_deleting_a_grant_in_the_admin_records_the_revocation() -> None:
    client, admin_id = _admin_client()
    grant = ServicePermissionGrant.objects.create(user=user_make(), service_id=4, permission="view_jobs")

    response = client.post(f"/admin/users/servicepermissiongrant/{grant.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not ServicePermissionGrant.objects.exists()
    event = _last_event()
    assert (event["action"], event["actor_id"], event["details"]["permission"]) == (
        "permission_revoked",
        admin_id,
        "view_jobs",
    )


def test_creating_and_renaming_a_group_in_the_admin_is_audited() -> None:
    client, admin_id = _admin_client()

    created = client.post(
        "/admin/users/servicegroup/add/",
        {
            "name": "h3a",
            "service_id": 7,
            "description": "",
            "permissions": '["submit_jobs"]',
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    group = ServiceGroup.objects.get()
    renamed = client.post(
        f"/admin/users/servicegroup/{group.pk}/change/",
        {
            "name": "h3a-africa",
            "description": "",
            "permissions": '["submit_jobs", "view"]',
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )

    assert (created.status_code, renamed.status_code) == (302, 302)
    group.refresh_from_db()
    assert (group.name, group.permissions) == ("h3a-africa", ["view", "submit_jobs"])
    event = _last_event()
    assert (event["action"], event["actor_id"], event["details"]["name"]) == ("group_updated", admin_id, "h3a-africa")
