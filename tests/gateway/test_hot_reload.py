"""Hot reload of the route table: an edit is in force within 2 s without a restart; a broken edit is rejected,
the last good table stays in force and the error is visible until a good edit clears it.
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import AsyncClient
from prometheus_client import REGISTRY

from gateway.routes import route_table, route_table_status
from tests.gateway.conftest import JOBS_TABLE, gateway_start

TABLE = JOBS_TABLE
APP, LEGACY = TABLE.format(target="app"), TABLE.format(target="legacy")
INVALID_TOML = APP.replace('target = "app"', "target = app")
UNKNOWN_KEY = APP.replace("target =", "tagret =")
DOMAIN_KEYS = (
    "anonymous, breaker_reset, breaker_threshold, canary, connect_timeout, eject_seconds, prefixes, read_timeout, "
    "retries, shadow, target, upstreams"
)
DEADLINE = 2.0


def edit(path: Path, text: str) -> None:
    """Rewrite the file and move its mtime on, as an editor saving a second later would."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    mtime = max(path.stat().st_mtime_ns, before + 1_000_000)
    os.utime(path, ns=(mtime, mtime))


def wait_for(condition: Callable[[], bool], within: float = DEADLINE) -> float:
    """Seconds until `condition()` held; fails if it did not within `within` seconds."""
    started = time.monotonic()
    while not condition():
        elapsed = time.monotonic() - started
        assert elapsed < within, f"not true within {within} s"
        time.sleep(0.02)
    return time.monotonic() - started


def jobs_target() -> str:
    return route_table().route("jobs").target


def reload_errors() -> float:
    return REGISTRY.get_sample_value("gateway_route_reload_errors_total") or 0.0


async def plain() -> Any:
    return await AsyncClient().get("/api/jobs/plain/")


async def status_within(expected: int, within: float = DEADLINE) -> float:
    started = time.monotonic()
    while (await plain()).status_code != expected:
        assert time.monotonic() - started < within, f"no {expected} within {within} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


# --- edits in force ----------------------------------------------------------------------------------------


def test_an_edit_is_in_force_within_two_seconds(routes_file: Callable[[str], Path]) -> None:
    path = routes_file(APP)
    assert jobs_target() == "app"

    edit(path, LEGACY)
    seconds = wait_for(lambda: jobs_target() == "legacy")

    assert seconds < DEADLINE
    assert route_table_status()["error"] is None
    assert route_table_status()["path"] == str(path)


def test_an_edit_of_the_same_size_is_picked_up(routes_file: Callable[[str], Path]) -> None:
    path = routes_file(APP.replace('"/api/jobs/plain/"', '"/api/jobs/aaaaa/"'))
    assert route_table().route("jobs").anonymous == ("/api/jobs/aaaaa/",)

    edit(path, APP.replace('"/api/jobs/plain/"', '"/api/jobs/bbbbb/"'))

    wait_for(lambda: route_table().route("jobs").anonymous == ("/api/jobs/bbbbb/",))


def test_the_loaded_at_time_moves_on_with_a_good_edit(routes_file: Callable[[str], Path]) -> None:
    path = routes_file(APP)
    first = route_table_status()["loaded_at"]

    edit(path, LEGACY)
    wait_for(lambda: jobs_target() == "legacy")

    assert route_table_status()["loaded_at"] > first


@pytest.mark.redis
async def test_requests_follow_an_edit_within_two_seconds(routes_file: Callable[[str], Path]) -> None:
    path = routes_file(APP)
    served = await plain()
    assert (served.status_code, served.content) == (200, b"ok")

    edit(path, LEGACY)
    to_legacy = await status_within(404)
    refused = await plain()
    edit(path, APP)
    back_to_app = await status_within(200)

    assert to_legacy < DEADLINE and back_to_app < DEADLINE
    assert refused.json()["error"] == {"code": "NOT_FOUND", "message": "Not found."}  # legacy has no such view


# --- broken edits rejected ---------------------------------------------------------------------------------


def test_invalid_toml_is_rejected_and_the_last_good_table_stays(routes_file: Callable[[str], Path]) -> None:
    path = routes_file(APP)
    assert jobs_target() == "app"
    errors_before = reload_errors()

    edit(path, INVALID_TOML)
    wait_for(lambda: route_table_status()["error"] is not None)
    time.sleep(1.0)  # several more checks of the same broken file

    assert route_table_status()["error"] == f"{path}: not valid TOML: Invalid value (at line 4, column 10)"
    assert jobs_target() == "app"
    assert reload_errors() == errors_before + 1  # counted once per rejected edit, not per check


def test_a_validation_error_is_rejected_and_the_last_good_table_stays(routes_file: Callable[[str], Path]) -> None:
    path = routes_file(APP)
    assert jobs_target() == "app"
    errors_before = reload_errors()

    edit(path, UNKNOWN_KEY)
    wait_for(lambda: route_table_status()["error"] is not None)

    assert route_table_status()["error"] == f"domains.jobs: unknown key(s) tagret; allowed: {DOMAIN_KEYS}"
    assert jobs_target() == "app"
    assert reload_errors() == errors_before + 1


def test_a_later_good_edit_clears_the_error(routes_file: Callable[[str], Path]) -> None:
    path = routes_file(APP)
    assert jobs_target() == "app"
    edit(path, INVALID_TOML)
    wait_for(lambda: route_table_status()["error"] is not None)
    errors_before = reload_errors()

    edit(path, LEGACY)
    seconds = wait_for(lambda: jobs_target() == "legacy")

    assert seconds < DEADLINE
    assert route_table_status()["error"] is None
    assert reload_errors() == errors_before


def test_a_second_broken_edit_replaces_the_first_error(routes_file: Callable[[str], Path]) -> None:
    path = routes_file(APP)
    assert jobs_target() == "app"
    edit(path, INVALID_TOML)
    wait_for(lambda: route_table_status()["error"] is not None)
    errors_before = reload_errors()

    edit(path, UNKNOWN_KEY)
    wait_for(lambda: str(route_table_status()["error"]).startswith("domains.jobs:"))

    assert jobs_target() == "app"
    assert reload_errors() == errors_before + 1


def test_a_deleted_file_keeps_the_last_good_table_and_says_so(routes_file: Callable[[str], Path]) -> None:
    path = routes_file(APP)
    assert jobs_target() == "app"

    path.unlink()
    wait_for(lambda: route_table_status()["error"] is not None)
    missing_error, target_while_missing = route_table_status()["error"], jobs_target()
    routes_file(LEGACY)
    wait_for(lambda: jobs_target() == "legacy")

    assert missing_error == f"{path}: cannot read: No such file or directory"
    assert target_while_missing == "app"
    assert route_table_status()["error"] is None


@pytest.mark.redis
async def test_requests_are_still_served_while_a_broken_edit_is_rejected(routes_file: Callable[[str], Path]) -> None:
    path = routes_file(APP)
    assert (await plain()).status_code == 200

    edit(path, INVALID_TOML)
    started = time.monotonic()
    statuses = []
    while time.monotonic() - started < 1.5:  # well past the reload check interval
        statuses.append((await plain()).status_code)
        await asyncio.sleep(0.05)
    edit(path, UNKNOWN_KEY)
    await asyncio.sleep(0.7)
    after_second_edit = await plain()

    assert set(statuses) == {200}
    assert route_table_status()["error"] == f"domains.jobs: unknown key(s) tagret; allowed: {DOMAIN_KEYS}"
    assert (after_second_edit.status_code, after_second_edit.content) == (200, b"ok")


def test_an_edit_with_a_scalar_sub_table_is_rejected_like_any_broken_edit(routes_file: Callable[[str], Path]) -> None:
    path = routes_file(APP)
    assert jobs_target() == "app"
    errors_before = reload_errors()

    edit(path, APP + "shadow = true\n")
    wait_for(lambda: route_table_status()["error"] is not None)

    assert str(route_table_status()["error"]).startswith("domains.jobs.shadow: ")
    assert jobs_target() == "app"
    assert reload_errors() == errors_before + 1


# --- in a separate gateway process -------------------------------------------------------------------------


@pytest.fixture
def gateway_process(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real gateway process (the monolith) whose route table is a file of this test's own."""
    path = tmp_path / "routes.toml"
    path.write_text(APP)
    server = gateway_start(path, log=tmp_path / "gateway.log")
    try:
        yield server.url, path
    finally:
        server.stop()


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def http_status_within(url: str, expected: int) -> float:
    started = time.monotonic()
    while http_status(url) != expected:
        assert time.monotonic() - started < DEADLINE, f"no {expected} from {url} within {DEADLINE} s"
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.mark.e2e
@pytest.mark.redis
def test_a_running_gateway_process_follows_edits_within_two_seconds(gateway_process: tuple[str, Path]) -> None:
    url, path = gateway_process
    plain_url = f"{url}/api/jobs/plain/"
    assert http_status(plain_url) == 200

    edit(path, LEGACY)
    to_legacy = http_status_within(plain_url, 404)
    edit(path, INVALID_TOML)
    time.sleep(1.0)  # the broken edit has been seen and rejected by now
    while_broken = [http_status(plain_url) for _ in range(5)]
    edit(path, APP)
    back_to_app = http_status_within(plain_url, 200)

    assert to_legacy < DEADLINE, to_legacy
    assert while_broken == [404] * 5  # the last good table (legacy) stays in force
    assert back_to_app < DEADLINE, back_to_app
