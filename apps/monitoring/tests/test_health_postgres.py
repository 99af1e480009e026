"""The health report's database probe against a real PostgreSQL server that stops and starts again: a connected
alias whose server goes away is reported down (degraded, or critical for an alias the platform cannot do without),
and up again once the server is back."""

from __future__ import annotations

import copy
import glob
import os
import pwd
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from apps.monitoring.selectors.health import database_check, health_verdict
from apps.monitoring.tests.processes import PostgresProcess, postgres_init, scratch_alias

pytestmark = pytest.mark.django_db(databases=["monitoring"])  # database access at all; the alias is made below

ALIAS = "stopping"


def _account(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture
def server() -> Iterator[PostgresProcess]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    missing = "PostgreSQL's server binaries (initdb, pg_ctl)" if not found else ""
    if found and os.geteuid() == 0 and not _account("postgres"):
        missing = "the `postgres` account the server runs as (root may not run it)"
    if missing:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"REQUIRE_SERVICES=1 and {missing} is not installed", pytrace=False)
        pytest.skip(f"{missing} is not installed")
    with tempfile.TemporaryDirectory(prefix="fip-health-pg-") as base:  # not pytest's: the server's account reads it
        process = postgres_init(Path(found[-1]).parent, Path(base))
        process.start()
        try:
            yield process
        finally:
            process.stop()


@pytest.fixture
def alias(server: PostgresProcess) -> Iterator[str]:
    with scratch_alias(ALIAS, {**copy.deepcopy(connections.settings["monitoring"]), **server.database()}) as name:
        yield name


def test_an_alias_whose_server_stops_is_down_until_it_starts_again(
    server: PostgresProcess, alias: str, settings: Any
) -> None:
    settings.MONITORING_CRITICAL_DATABASES = []
    running = database_check(alias)

    server.stop()
    stopped = database_check(alias)
    settings.MONITORING_CRITICAL_DATABASES = [alias]
    stopped_critical = database_check(alias)
    connections[alias].close()  # what a probe does after each run: the next one connects anew
    server.start()
    back = database_check(alias)

    assert (running.status, running.detail) == ("ok", "postgresql")
    assert (stopped.status, stopped.impact) == ("down", "degraded")
    assert stopped.detail.split(":")[0] in {"OperationalError", "InterfaceError"}
    assert health_verdict([running, stopped]) == "degraded"
    assert (stopped_critical.status, stopped_critical.impact) == ("down", "critical")
    assert health_verdict([running, stopped_critical]) == "critical"
    assert (back.status, back.detail) == ("ok", "postgresql")
