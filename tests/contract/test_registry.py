"""API_CONTRACT.md "registry context": every endpoint, the same requests against every target.

Targets: `app` (in-process) and `remote` (a real gateway in front of the users and registry deployables; the
registry deployable asks the users deployable who may manage services). Writes need manage_services.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.contract.fixtures import UsersApi
from tests.contract.targets import Reply

pytestmark = [pytest.mark.django_db(databases=["registry", "users"]), pytest.mark.redis]

SERVICE_KEYS = {
    "id",
    "name",
    "slug",
    "api_type",
    "base_url",
    "description",
    "location",
    "requires_auth",
    "max_file_size_mb",
    "supported_formats",
    "supported_builds",
    "limits",
    "is_active",
    "health",
    "panel_count",
}
PAGE_KEYS = {"count", "next", "previous", "results"}


def _error(reply: Reply, status: int, code: str) -> dict[str, Any]:
    assert reply.status == status, reply.body
    assert reply.body["error"]["code"] == code
    assert reply.body["request_id"] == reply.headers["x-request-id"]
    return dict(reply.body["error"])


def _service(api: UsersApi, **fields: Any) -> dict[str, Any]:
    slug = f"c-{uuid.uuid4().hex[:10]}"
    body = {
        "name": f"Contract {slug}",
        "slug": slug,
        "api_type": "cloudgene",
        "base_url": "http://127.0.0.1:9",
        "location": {"country": "KE", "city": "Nairobi", "lat": -1.29, "lon": 36.82},
        **fields,
    }
    created: dict[str, Any] = api.ok("POST", "/api/services/", body)
    return created


def test_list_and_detail_are_open_to_anonymous_callers(registry_api: UsersApi) -> None:
    created = _service(registry_api)

    listed = registry_api.call("GET", f"/api/services/?search={created['slug']}")
    detail = registry_api.call("GET", f"/api/services/{created['slug']}/")

    assert listed.status == detail.status == 200
    assert set(listed.body) == PAGE_KEYS
    assert [service["id"] for service in listed.body["results"]] == [created["id"]]
    assert set(listed.body["results"][0]) == SERVICE_KEYS
    assert detail.body["location"] == {
        "country": "KE",
        "city": "Nairobi",
        "institution": "",
        "lat": -1.29,
        "lon": 36.82,
    }
    assert set(detail.body) >= SERVICE_KEYS | {"server_info", "at_risk"}


def test_writes_need_manage_services(registry_api: UsersApi) -> None:
    _, researcher = registry_api.user_new(role="researcher")
    body = {"name": "X", "slug": f"x-{uuid.uuid4().hex[:8]}", "api_type": "wes", "base_url": "https://x.example.org"}

    anonymous = registry_api.call("POST", "/api/services/", body)
    refused = registry_api.call("POST", "/api/services/", body, token=researcher)

    _error(anonymous, 401, "AUTHENTICATION_ERROR")
    _error(refused, 403, "AUTHORIZATION_ERROR")


def test_create_change_and_deactivate(registry_api: UsersApi) -> None:
    created = _service(registry_api, base_url="HTTP://127.0.0.1:9/")
    changed = registry_api.ok("PATCH", f"/api/services/{created['id']}/", {"limits": {"max_jobs": 4}})
    deactivated = registry_api.ok("DELETE", f"/api/services/{created['id']}/")
    hidden = registry_api.call("GET", f"/api/services/{created['id']}/")

    assert created["base_url"] == "http://127.0.0.1:9"
    assert changed["limits"]["max_jobs"] == 4
    assert deactivated["is_active"] is False
    _error(hidden, 404, "NOT_FOUND")


def test_a_duplicate_slug_is_a_conflict(registry_api: UsersApi) -> None:
    created = _service(registry_api)

    reply = registry_api.call(
        "POST",
        "/api/services/",
        {"name": "Again", "slug": created["slug"], "api_type": "wes", "base_url": "https://x.example.org"},
        token=registry_api.admin_token,
    )

    _error(reply, 409, "CONFLICT")


def test_a_metadata_url_is_refused_when_probed(registry_api: UsersApi) -> None:
    created = _service(registry_api, base_url="http://169.254.169.254")

    probed = registry_api.ok("POST", f"/api/services/{created['id']}/health/")

    assert probed["status"] == "unhealthy"
    assert "the platform will not call it" in probed["message"]


def test_health_now_and_history(registry_api: UsersApi) -> None:
    created = _service(registry_api)

    probed = registry_api.ok("POST", f"/api/services/{created['id']}/health/")
    history = registry_api.ok("GET", f"/api/services/{created['id']}/health/")

    assert probed["status"] == "unhealthy"
    assert probed["checked_at"] is not None
    assert set(history) == {"status", "checked_at", "response_time_ms", "message", "history"}
    assert [check["status"] for check in history["history"]] == ["unhealthy"]


def test_discover_and_panels(registry_api: UsersApi) -> None:
    created = _service(registry_api, supported_builds=["hg38"])

    discovered = registry_api.ok("GET", "/api/services/discover/?build=hg38&lat=-1.3&lon=36.8")
    panels = registry_api.call("GET", f"/api/reference-panels/?service={created['slug']}")

    ours = [item for item in discovered["results"] if item["id"] == created["id"]]
    assert ours and ours[0]["distance_km"] < 5
    assert set(ours[0]) >= SERVICE_KEYS | {"score", "score_parts", "distance_km", "active_jobs", "can_submit"}
    assert panels.status == 200
    assert panels.body == {"count": 0, "next": None, "previous": None, "results": []}
