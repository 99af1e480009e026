"""GET /api/gateway/routes/: the route table in force for administrators, with its file and breaker states."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from django.test import Client

from apps.users.models import User
from apps.users.tokens import token_pair_issue
from gateway import routes as routes_module
from gateway.api import breakers_key
from gateway.routes import route_table, route_table_status

pytestmark = [pytest.mark.redis, pytest.mark.django_db(databases=["users"])]

URL = "/api/gateway/routes/"
TABLE = """
[domains.registry]
prefixes = ["/api/services/", "/api/reference-panels/"]
anonymous = ["/api/services/"]
target = "app"

[domains.jobs]
prefixes = ["/api/jobs/"]
target = "remote"
upstreams = ["http://127.0.0.1:18003", "http://127.0.0.1:18013"]
shadow = { target = "app", volatile = ["generated_at", "etag"], timeout = 0.5, sample_percent = 10 }
canary = { target = "legacy", percent = 2.5 }
"""


def bearer(*, staff: bool) -> dict[str, str]:
    user = User.objects.create_user(username=f"user-{uuid.uuid4().hex[:8]}", password="x", is_staff=staff)
    return {"Authorization": f"Bearer {token_pair_issue(user=user).access}"}  # with the is_staff claim


def test_an_administrator_gets_the_table_in_force_sorted_by_domain(
    routes_file: Callable[[str], Path], gateway_redis: redis.Redis
) -> None:
    routes_file(TABLE)
    opened = {"state": "opened", "failures": 5, "changed_at": time.time()}
    gateway_redis.hset(breakers_key(), "jobs http://127.0.0.1:18013", json.dumps(opened))

    response = Client().get(URL, headers=bearer(staff=True))

    status = route_table_status()
    assert response.status_code == 200
    assert response.json() == {
        "file": {
            "path": status["path"],
            "loaded_at": datetime.fromtimestamp(status["loaded_at"], tz=UTC).isoformat(),
            "error": None,
        },
        "routes": [
            {
                "domain": "jobs",
                "prefixes": ["/api/jobs/"],
                "target": "remote",
                "anonymous": [],
                "canary": {"target": "legacy", "percent": 2.5},
                "shadow": {"target": "app", "volatile": ["etag", "generated_at"], "timeout": 0.5, "sample_percent": 10},
                "upstreams": [
                    {"url": "http://127.0.0.1:18003", "breaker": "closed"},
                    {"url": "http://127.0.0.1:18013", "breaker": "opened"},
                ],
            },
            {
                "domain": "registry",
                "prefixes": ["/api/services/", "/api/reference-panels/"],
                "target": "app",
                "anonymous": ["/api/services/"],
                "canary": None,
                "shadow": None,
                "upstreams": [],
            },
        ],
    }


def test_an_open_breaker_past_its_reset_time_shows_half_opened(
    routes_file: Callable[[str], Path], gateway_redis: redis.Redis
) -> None:
    routes_file(TABLE)
    long_ago = {"state": "opened", "failures": 5, "changed_at": time.time() - 31}  # breaker_reset defaults to 30 s
    gateway_redis.hset(breakers_key(), "jobs http://127.0.0.1:18003", json.dumps(long_ago))

    response = Client().get(URL, headers=bearer(staff=True))

    assert [upstream["breaker"] for upstream in response.json()["routes"][0]["upstreams"]] == ["half-opened", "closed"]


def test_a_rejected_edit_is_shown_next_to_the_table_still_in_force(
    routes_file: Callable[[str], Path], gateway_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes_module, "RELOAD_CHECK_SECONDS", 0)
    path = routes_file(TABLE)
    route_table()
    path.write_text(TABLE.replace("percent = 2.5", "percent = 250"))

    body = Client().get(URL, headers=bearer(staff=True)).json()

    assert body["file"]["error"] == "domains.jobs.canary.percent: must be between 0 and 100, got 250"
    assert body["routes"][0]["canary"] == {"target": "legacy", "percent": 2.5}


def test_a_user_who_is_not_staff_is_refused(routes_file: Callable[[str], Path]) -> None:
    routes_file(TABLE)

    response = Client().get(URL, headers={**bearer(staff=False), "X-Request-ID": "req-admin-403"})

    assert response.status_code == 403
    assert response.json() == {
        "error": {"code": "AUTHORIZATION_ERROR", "message": "You do not have permission to perform this action."},
        "request_id": "req-admin-403",
    }


def test_an_anonymous_caller_must_authenticate(routes_file: Callable[[str], Path]) -> None:
    routes_file(TABLE)

    response = Client().get(URL, headers={"X-Request-ID": "req-admin-401"})

    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "AUTHENTICATION_ERROR", "message": "Authentication credentials were not provided."},
        "request_id": "req-admin-401",
    }
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
