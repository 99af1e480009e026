"""API_CONTRACT.md "monitoring context": the same requests against every target.

Targets: `app` (in-process) and `remote` (a real gateway routing the monitoring domain to a monitoring deployable
on its own database). Neither target knows the callers used here (the in-process one asks a users stub that knows
nobody, the deployable its own empty users database), so they must answer alike: the anonymous health summary, an
empty dashboard, and refusals for the operators' endpoints. What the figures are made of is covered by
apps/monitoring/tests/.
"""

from __future__ import annotations

import itertools
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from apps.monitoring import access
from apps.monitoring.tests.factories import NO_JOBS
from apps.users.public import UserInfo, UserNotFoundError, UsersService
from tests.contract.fixtures import gateway_start_routing
from tests.contract.targets import HttpTarget, InProcessTarget, Reply, Target
from tests.gateway.conftest import access_token
from tests.servers import Server, deployable_start

pytestmark = [pytest.mark.django_db(databases=["monitoring"]), pytest.mark.redis]

PREFIXES = ["/api/monitoring/", "/api/dashboard/", "/api/analytics/"]
ANONYMOUS = ["/api/monitoring/health/"]
LEVELS = {"healthy", "degraded", "critical"}
_user_ids = itertools.count(9101)


class NobodyKnown(UsersService):
    """The users context as an empty database answers it: no such user, and no operator to alert."""

    def user_get(self, *, user_id: int) -> UserInfo:
        raise UserNotFoundError(str(user_id))

    def service_permissions(self, *, user_id: int, service_id: int) -> frozenset[str]:
        raise UserNotFoundError(str(user_id))

    def service_audience(self, *, service_id: int) -> list[int]:
        return []

    def credential_token_for_job(self, *, owner_id: int, service_id: int, job_id: str) -> str:
        raise UserNotFoundError(str(owner_id))


@pytest.fixture(scope="module")
def monitoring_deployable(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Iterator[Server]:
    deployable = deployable_start("monitoring", tmp_path_factory.mktemp("monitoring-deployable"))
    yield deployable
    deployable.stop()


@pytest.fixture(scope="module")
def monitoring_gateway(tmp_path_factory: pytest.TempPathFactory, monitoring_deployable: Server) -> Iterator[Server]:
    gateway = gateway_start_routing(tmp_path_factory, {"monitoring": (PREFIXES, ANONYMOUS, monitoring_deployable.url)})
    yield gateway
    gateway.stop()


@pytest.fixture(params=["app", "remote"])
def target(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Target:
    if request.param == "app":
        monkeypatch.setattr(access, "get_users_service", NobodyKnown)
        request.getfixturevalue("settings").MONITORING_HEALTH_CACHE_SECONDS = 0  # no report of an earlier test
        return InProcessTarget()
    return HttpTarget("remote", request.getfixturevalue("monitoring_gateway").url)


def _error(reply: Reply, status: int, code: str) -> dict[str, Any]:
    assert reply.status == status, reply.body
    assert reply.body["error"]["code"] == code
    assert reply.body["request_id"] == reply.headers["x-request-id"]
    return dict(reply.body["error"])


def test_anonymous_callers_get_the_health_verdict_only_with_503_when_critical(target: Target) -> None:
    reply = target.call("GET", "/api/monitoring/health/")

    assert set(reply.body) == {"status", "checked_at"}
    assert reply.body["status"] in LEVELS
    assert reply.status == (503 if reply.body["status"] == "critical" else 200)
    assert reply.headers["x-request-id"]


def test_signed_in_callers_see_each_component_but_not_its_details(target: Target) -> None:
    reply = target.call("GET", "/api/monitoring/health/", token=access_token(next(_user_ids)))

    names = [component["name"] for component in reply.body["components"]]
    assert {"redis", "workers", "storage", "events", "services", "database.monitoring"} <= set(names)
    assert all(set(component) == {"name", "status", "impact"} for component in reply.body["components"])


def test_a_new_caller_has_an_empty_dashboard(target: Target) -> None:
    reply = target.call("GET", "/api/dashboard/stats/", token=access_token(next(_user_ids)))

    assert reply.status == 200, reply.body
    assert reply.body == {
        "jobs": NO_JOBS,
        "recent_jobs": [],
        "services": {"known": 0, "available": 0, "accessible": 0},
    }


def test_the_dashboard_needs_a_token(target: Target) -> None:
    assert _error(target.call("GET", "/api/dashboard/stats/"), 401, "AUTHENTICATION_ERROR")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/analytics/?days=7"),
        ("GET", "/api/monitoring/alerts/"),
        ("POST", "/api/monitoring/alerts/1/acknowledge/"),
        ("POST", "/api/monitoring/alerts/1/resolve/"),
    ],
)
def test_analytics_and_alerts_are_refused_to_callers_who_are_not_operators(
    target: Target, method: str, path: str
) -> None:
    reply = target.call(method, path, token=access_token(next(_user_ids)))

    assert _error(reply, 403, "AUTHORIZATION_ERROR") == {
        "code": "AUTHORIZATION_ERROR",
        "message": "This needs the 'view_all_jobs' capability (admins and service admins).",
    }


def test_the_extracted_deployable_exports_the_business_metrics_from_its_own_database(
    monitoring_deployable: Server,
) -> None:
    scrapes = []
    for _ in range(2):  # the first scrape's own queries open the connections the second one counts
        with urllib.request.urlopen(f"{monitoring_deployable.url}/metrics", timeout=10) as response:
            scrapes.append(response.read().decode())
    text = scrapes[-1]

    scrape_errors = dict(re.findall(r'^fip_monitoring_scrape_errors\{part="(\w+)"\} (\S+)$', text, re.M))
    assert scrape_errors == {"jobs": "0.0", "uploads": "0.0", "services": "0.0", "alerts": "0.0", "snapshot": "0.0"}
    assert "# TYPE fip_job_duration_seconds histogram" in text
    assert re.search(r'^django_db_new_connections_total\{alias="monitoring",vendor="sqlite"\} [1-9]', text, re.M)
