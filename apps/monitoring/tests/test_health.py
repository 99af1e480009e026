"""The health report over real processes: a throwaway Redis server, a Celery worker and an extracted deployable are
started for the test and stopped under it; the report must turn degraded or critical, naming what went down.

The files context answers for its storage through a stub (conftest.py): healthy unless a test says otherwise.

A database alias is "stopped" by pointing a copy of the monitoring alias at a server that is not there (a closed
loopback port for PostgreSQL, a vanished directory for SQLite): the connection fails as it does when the server
stops.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from celery import current_app
from django.db import connections
from django.utils import timezone
from kombu import pools as kombu_pools

from apps.files.public import StorageHealth
from apps.kernel.consumers import registered_consumers
from apps.monitoring.models import OutboxEvent
from apps.monitoring.selectors import health as health_module
from apps.monitoring.selectors.health import (
    Component,
    HealthReport,
    database_check,
    health_probes,
    health_report,
    health_verdict,
    storage_check,
)
from apps.monitoring.tests.conftest import GIB, FilesStub
from apps.monitoring.tests.factories import OPERATOR, UsersStub, call, service_make
from apps.monitoring.tests.processes import (
    deployable_serve,
    redis_answers,
    redis_start,
    scratch_alias,
    worker_start,
)
from tests.notifications.stack import RedisProcess
from tests.servers import free_port

pytestmark = pytest.mark.django_db(databases=["monitoring"])

SCRATCH = "monitoring_scratch"  # an alias of this test's own, never migrated


@pytest.fixture
def bus(settings: Any) -> Iterator[RedisProcess]:
    """A throwaway Redis server the whole platform is pointed at (events, probes, Celery's broker)."""
    server = redis_start()
    broker = current_app.conf.broker_url
    settings.REDIS_URL = server.url
    _broker_use(server.url)
    yield server
    _broker_use(broker)
    server.stop()


def _broker_use(url: str) -> None:
    """Point this process's Celery app at another broker, dropping the pools that still hold the old one."""
    current_app.conf.update(broker_url=url)
    kombu_pools.reset()  # closes and forgets kombu's process-wide pools, so the next send opens fresh ones
    current_app._pool = None  # type: ignore[attr-defined]
    current_app.amqp._producer_pool = None  # type: ignore[attr-defined]


@pytest.fixture
def quiet_platform(settings: Any) -> None:
    """Any free space enough for the (stub's healthy) storage, one queue to serve."""
    settings.MONITORING_STORAGE_MIN_FREE_BYTES = 1
    settings.MONITORING_WORKER_QUEUES = ["celery"]
    settings.MONITORING_HEALTH_TIMEOUT = 2.0


def _report(**scope: Any) -> HealthReport:
    """The report over this context's own database, outbox and consumers (the other aliases are not this test's)."""
    consumers = [c for c in registered_consumers() if c.name.startswith("monitoring.")]
    return health_report(
        probes=health_probes(aliases=["monitoring"], outboxes=[OutboxEvent], consumers=consumers, **scope)
    )


def _part(report: HealthReport, name: str) -> Component:
    component = report.component(name)
    assert component is not None, f"no {name} in the report"
    return component


def _statuses(report: HealthReport) -> dict[str, str]:
    return {c.name: c.status for c in report.components}


@pytest.mark.usefixtures("quiet_platform")
def test_healthy_with_everything_up_then_critical_once_redis_stops(bus: RedisProcess, tmp_path: Path) -> None:
    worker = worker_start(bus.url, tmp_path)
    deployable = deployable_serve("notifications", tmp_path, bus.url)
    try:
        up = _report(deployables={"notifications": deployable.url})
        bus.stop()
        down = _report(deployables={"notifications": deployable.url})
    finally:
        deployable.stop()
        worker.stop()

    assert up.status == "healthy", [c.as_dict() for c in up.components if c.status != "ok"]
    assert _statuses(up) == {
        "database.monitoring": "ok",
        "deployable.notifications": "ok",
        "events": "ok",
        "redis": "ok",
        "services": "ok",
        "storage": "ok",
        "workers": "ok",
    }
    assert _part(up, "workers").data["workers"] == [w for w in _part(up, "workers").data["workers"] if "probe@" in w]
    assert _part(up, "events").data["consumers"]["monitoring.job_facts"] == {"pending": 0, "lag": None}
    assert down.status == "critical"
    assert _statuses(down) | {"storage": "ok"} == {
        "database.monitoring": "ok",
        "deployable.notifications": "ok",
        "events": "degraded",
        "redis": "down",
        "services": "ok",
        "storage": "ok",
        "workers": "down",
    }
    assert "ConnectionError" in _part(down, "redis").detail
    assert _part(down, "workers").detail.startswith("broker unreachable")
    assert not redis_answers(bus.url)


@pytest.mark.usefixtures("quiet_platform")
def test_a_stopped_worker_or_deployable_makes_the_report_critical(
    bus: RedisProcess, tmp_path: Path, settings: Any
) -> None:
    worker = worker_start(bus.url, tmp_path, queues="node", name="nodeonly")
    deployable = deployable_serve("notifications", tmp_path, bus.url)
    try:
        no_celery_queue = _report(deployables={"notifications": deployable.url})
        deployable.stop()
        worker.stop()
        nothing = _report(deployables={"notifications": deployable.url})
    finally:
        deployable.stop()
        worker.stop()

    assert no_celery_queue.status == "critical"
    assert _part(no_celery_queue, "workers").detail == "no worker consumes celery"
    assert _part(no_celery_queue, "workers").data["unserved"] == ["celery"]
    assert _part(no_celery_queue, "deployable.notifications").status == "ok"
    assert nothing.status == "critical"
    assert (
        _part(nothing, "workers").detail
        == f"no Celery worker answered within {settings.MONITORING_WORKER_PING_TIMEOUT:g}s"
    )
    assert _part(nothing, "deployable.notifications").status == "down"
    assert "Connection refused" in _part(nothing, "deployable.notifications").detail


def test_storage_on_s3_whose_bucket_answers_is_ok(files: FilesStub) -> None:
    files.storage = StorageHealth("s3", True, "bucket media answers", {"bucket": "media", "endpoint": "http://s3"})

    storage = storage_check()

    assert (storage.status, storage.impact, storage.detail) == ("ok", "critical", "bucket media answers")
    assert storage.data == {"backend": "s3", "bucket": "media", "endpoint": "http://s3"}


def test_storage_on_s3_whose_bucket_is_gone_is_down_and_the_report_critical(files: FilesStub) -> None:
    gone = "bucket media: HeadBucket answered 404 Not Found"
    files.storage = StorageHealth("s3", False, gone, {"bucket": "media", "endpoint": "http://s3"})

    report = health_report(probes={"storage": storage_check})

    assert report.status == "critical"
    assert _part(report, "storage").as_dict() == {
        "name": "storage",
        "status": "down",
        "impact": "critical",
        "detail": gone,
        "latency_ms": None,
        "data": {"backend": "s3", "bucket": "media", "endpoint": "http://s3"},
    }


def test_local_storage_low_on_free_space_is_degraded(files: FilesStub, settings: Any) -> None:
    settings.MONITORING_STORAGE_MIN_FREE_BYTES = GIB
    data = {"root": "/srv/media", "free_bytes": 1000, "total_bytes": 100 * GIB}
    files.storage = StorageHealth("local", True, "/srv/media", data)

    report = health_report(probes={"storage": storage_check})

    assert report.status == "degraded"
    storage = _part(report, "storage")
    assert (storage.status, storage.impact) == ("degraded", "critical")
    assert storage.detail == "/srv/media: only 1000 bytes free"
    assert storage.data == {"backend": "local", **data}


def test_storage_is_down_while_the_files_deployable_cannot_be_asked(files: FilesStub) -> None:
    files.unavailable = True

    storage = storage_check()

    assert (storage.status, storage.impact) == ("down", "critical")
    assert storage.detail == "FilesUnavailableError: files deployable unreachable: ConnectError (stub)"


def test_a_deployable_of_another_context_leaves_storage_to_the_monolith(files: FilesStub, settings: Any) -> None:
    settings.HOLDS_FILES, settings.CONTEXT_URLS = False, {}
    files.unavailable = True  # never asked

    storage = storage_check()

    assert (storage.status, storage.detail) == ("ok", "not held by this process: not probed here")


@pytest.fixture
def stopped_alias(tmp_path: Path) -> Iterator[str]:
    """A copy of the monitoring alias whose server was never there (a real one stopping: test_health_postgres.py)."""
    config = copy.deepcopy(connections.settings["monitoring"])
    if config["ENGINE"].endswith("postgresql"):
        config.update(HOST="127.0.0.1", PORT=free_port())
    else:
        config["NAME"] = str(tmp_path / "gone" / "scratch.sqlite3")
    with scratch_alias(SCRATCH, config) as alias:
        yield alias


def test_a_database_alias_that_stops_answering_degrades_or_fails_the_report(stopped_alias: str, settings: Any) -> None:
    settings.MONITORING_CRITICAL_DATABASES = ["monitoring"]
    minor = [database_check("monitoring"), database_check(stopped_alias)]
    settings.MONITORING_CRITICAL_DATABASES = ["monitoring", stopped_alias]
    major = [database_check("monitoring"), database_check(stopped_alias)]

    assert [(c.name, c.status, c.impact) for c in minor] == [
        ("database.monitoring", "ok", "critical"),
        (f"database.{stopped_alias}", "down", "degraded"),
    ]
    assert minor[1].detail.startswith("OperationalError")
    assert health_verdict(minor) == "degraded"
    assert [(c.status, c.impact) for c in major] == [("ok", "critical"), ("down", "critical")]
    assert health_verdict(major) == "critical"


@pytest.mark.django_db(databases=["monitoring"], transaction=True)  # the probes' threads must see its rows
@pytest.mark.usefixtures("quiet_platform")  # the gateway's rate limits use the throwaway Redis too: nothing to clean
def test_the_endpoint_shows_anonymous_callers_the_verdict_only_and_answers_503_when_critical(
    bus: RedisProcess, users: UsersStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    users.add(1, OPERATOR)
    users.add(7)
    service_make(4, "unhealthy")
    own_scope = partial(
        health_module.health_probes, aliases=["monitoring"], outboxes=[OutboxEvent], consumers=[], workers=False
    )
    monkeypatch.setattr(health_module, "health_probes", own_scope)

    anonymous = call("GET", "/api/monitoring/health/")
    researcher = call("GET", "/api/monitoring/health/", user_id=7)
    operator = call("GET", "/api/monitoring/health/", user_id=1)
    bus.stop()
    critical = call("GET", "/api/monitoring/health/")

    assert anonymous.status_code == 200
    assert anonymous.json() == {"status": "degraded", "checked_at": anonymous.json()["checked_at"]}
    assert researcher.json()["components"] == [
        {"name": "database.monitoring", "status": "ok", "impact": "critical"},
        {"name": "events", "status": "ok", "impact": "degraded"},
        {"name": "redis", "status": "ok", "impact": "critical"},
        {"name": "services", "status": "degraded", "impact": "degraded"},
        {"name": "storage", "status": "ok", "impact": "critical"},
    ]
    services = next(c for c in operator.json()["components"] if c["name"] == "services")
    assert (services["detail"], services["data"]["services"][0]["status"]) == ("1 of 1 down: svc-4", "unhealthy")
    assert critical.status_code == 503
    assert critical.json() == {"status": "critical", "checked_at": critical.json()["checked_at"]}


@pytest.mark.redis
@pytest.mark.usefixtures("quiet_platform", "own_counters")
def test_the_endpoint_still_answers_without_details_while_the_users_context_is_down(
    users: UsersStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    users.add(1, OPERATOR)
    users.unavailable = True
    own_scope = partial(
        health_module.health_probes, aliases=["monitoring"], outboxes=[OutboxEvent], consumers=[], workers=False
    )
    monkeypatch.setattr(health_module, "health_probes", own_scope)

    reply = call("GET", "/api/monitoring/health/", user_id=1)

    assert reply.status_code == 200, reply.json()
    assert reply.json()["status"] == "healthy"
    assert [set(component) for component in reply.json()["components"]] == [{"name", "status", "impact"}] * 5


def test_the_endpoints_report_is_reused_for_a_few_seconds_so_callers_cannot_fan_out_probes(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[HealthReport] = []

    def report() -> HealthReport:
        made.append(HealthReport("healthy", timezone.now(), []))
        return made[-1]

    monkeypatch.setattr(health_module, "health_report", report)
    monkeypatch.setattr(health_module, "_recent", [])
    settings.MONITORING_HEALTH_CACHE_SECONDS = 60

    first, second = health_module.health_report_recent(), health_module.health_report_recent()
    settings.MONITORING_HEALTH_CACHE_SECONDS = 0
    third = health_module.health_report_recent()

    assert first is second is made[0]
    assert third is made[1] and len(made) == 2
