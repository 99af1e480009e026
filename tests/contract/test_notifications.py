"""API_CONTRACT.md "notifications context": the same requests against every target.

Targets: `app` (in-process) and `remote` (a real gateway routing the notifications domain to a notifications
deployable on its own database). What notifications are made of (events) is covered by the context's tests
and, across real processes, by tests/notifications/; here, the shapes, the caller's isolation and the errors.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from tests.contract.fixtures import gateway_start_routing
from tests.contract.targets import HttpTarget, InProcessTarget, Reply, Target
from tests.gateway.conftest import access_token
from tests.servers import Server, deployable_start

pytestmark = [pytest.mark.django_db(databases=["notifications"]), pytest.mark.redis]

PREFIXES = ["/api/notifications/"]
_user_ids = itertools.count(7001)


@pytest.fixture(scope="module")
def notifications_gateway(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Iterator[Server]:
    deployable = deployable_start("notifications", tmp_path_factory.mktemp("notifications-deployable"))
    gateway = gateway_start_routing(tmp_path_factory, {"notifications": (PREFIXES, [], deployable.url)})
    yield gateway
    gateway.stop()
    deployable.stop()


@pytest.fixture(params=["app", "remote"])
def target(request: pytest.FixtureRequest) -> Target:
    if request.param == "app":
        return InProcessTarget()
    return HttpTarget("remote", request.getfixturevalue("notifications_gateway").url)


def _as(user_id: int) -> str:
    return access_token(user_id)


def _error(reply: Reply, status: int, code: str) -> dict[str, Any]:
    assert reply.status == status, reply.body
    assert reply.body["error"]["code"] == code
    assert reply.body["request_id"] == reply.headers["x-request-id"]
    return dict(reply.body["error"])


def test_a_new_user_has_an_empty_feed_and_nothing_unread(target: Target) -> None:
    token = _as(next(_user_ids))

    listed = target.call("GET", "/api/notifications/?unread=true", token=token)
    count = target.call("GET", "/api/notifications/unread-count/", token=token)
    marked = target.call("POST", "/api/notifications/read-all/", token=token)

    assert (listed.status, listed.body) == (200, {"count": 0, "next": None, "previous": None, "results": []})
    assert (count.status, count.body) == (200, {"unread_count": 0})
    assert (marked.status, marked.body) == (200, {"marked": 0})


def test_marking_a_notification_that_is_not_the_callers_is_not_found(target: Target) -> None:
    reply = target.call("POST", "/api/notifications/987654321/read/", token=_as(next(_user_ids)))

    assert _error(reply, 404, "NOT_FOUND") == {"code": "NOT_FOUND", "message": "Not found."}


def test_preferences_round_trip_per_user(target: Target) -> None:
    mine, theirs = _as(next(_user_ids)), _as(next(_user_ids))
    change = {
        "channels": {"service_alert": {"email": True}},
        "digest": "hourly",
        "quiet_hours": {"start": "23:00", "end": "06:00"},
    }

    patched = target.call("PATCH", "/api/notifications/preferences/", change, token=mine)
    read_back = target.call("GET", "/api/notifications/preferences/", token=mine)
    others = target.call("GET", "/api/notifications/preferences/", token=theirs)
    refused = target.call("PATCH", "/api/notifications/preferences/", {"digest": "weekly"}, token=mine)

    assert patched.status == 200
    assert read_back.body == patched.body
    assert read_back.body["channels"]["service_alert"] == {"web": True, "email": True}
    assert (read_back.body["digest"], read_back.body["quiet_hours"]) == ("hourly", {"start": "23:00", "end": "06:00"})
    assert (others.body["digest"], others.body["quiet_hours"], others.body["updated_at"]) == ("immediate", None, None)
    assert _error(refused, 400, "VALIDATION_ERROR")["details"] == {"digest": ['"weekly" is not a valid choice.']}


def test_anonymous_callers_are_refused_at_the_edge(target: Target) -> None:
    reply = target.call("GET", "/api/notifications/")

    assert _error(reply, 401, "AUTHENTICATION_ERROR")["message"] == "Authentication credentials were not provided."
