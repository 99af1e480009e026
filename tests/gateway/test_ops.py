"""`manage.py gateway`: the table in force, flips of a domain's target, checks of the file, the last shadow diffs."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.management import CommandError, call_command

from gateway import routes as routes_module
from gateway.api import breakers_key
from gateway.routes import route_table, route_table_status
from gateway.shadow import diffs_key
from tests.gateway.conftest import ROOT, Upstream, free_port

TABLE = """# Route table for the ops tests: comments and layout must survive a flip.

[domains.users]
prefixes = ["/api/users/"]
target = "app"   # moved in phase 2

[domains.jobs]
prefixes = ["/api/jobs/"]
target = "app"   # flip me
upstreams = ["http://127.0.0.1:8003"]
# a small share of callers still goes to the old monolith
canary = { target = "legacy", percent = 5 }
"""
DOMAIN_KEYS = (
    "anonymous, breaker_reset, breaker_threshold, canary, connect_timeout, eject_seconds, prefixes, read_timeout, "
    "retries, shadow, target, upstreams"
)


def gateway(*args: str) -> str:
    out = StringIO()
    call_command("gateway", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def table_file(tmp_path: Path, settings: Any) -> Path:
    """A routes file of the test's own, and an audit log under the test's VAR_DIR."""
    settings.VAR_DIR = tmp_path / "var"
    path = tmp_path / "config" / "routes.toml"
    path.parent.mkdir()
    path.write_text(TABLE)
    return path


def audit_lines(settings: Any) -> list[dict[str, Any]]:
    path = Path(settings.VAR_DIR) / "gateway" / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- flip ------------------------------------------------------------------------------------------------


def test_flip_changes_only_the_target_keeping_comments_and_writes_an_audit_line(
    table_file: Path, settings: Any
) -> None:
    output = gateway("flip", "jobs", "remote", "--by", "alice", "--file", str(table_file))

    assert table_file.read_text() == TABLE.replace('target = "app"   # flip me', 'target = "remote"   # flip me')
    [entry] = audit_lines(settings)
    at = entry.pop("at")
    assert abs(datetime.fromisoformat(at) - datetime.now(tz=UTC)).total_seconds() < 60
    assert entry == {
        "by": "alice",
        "os_user": getpass.getuser(),  # the claimed name and the account that really ran it
        "domain": "jobs",
        "from": "app",
        "to": "remote",
        "file": str(table_file),
    }
    audit = Path(settings.VAR_DIR) / "gateway" / "audit.log"
    assert output == f"jobs: app -> remote in {table_file} (in force within 2 s); audited in {audit}\n"
    assert sorted(path.name for path in table_file.parent.iterdir()) == ["routes.toml"]  # no temp file left


def test_flip_names_the_login_user_when_no_one_is_given(
    table_file: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "ops-on-call")

    gateway("flip", "users", "legacy", "--file", str(table_file))

    assert [(entry["by"], entry["from"], entry["to"]) for entry in audit_lines(settings)] == [
        ("ops-on-call", "app", "legacy")
    ]


def test_a_flipped_target_is_in_force_in_the_running_process(
    routes_file: Callable[[str], Path], settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.VAR_DIR = tmp_path / "var"
    monkeypatch.setattr(routes_module, "RELOAD_CHECK_SECONDS", 0)
    routes_file(TABLE)
    assert route_table().route("jobs").target == "app"

    gateway("flip", "jobs", "remote", "--by", "alice")

    assert route_table().route("jobs").target == "remote"
    assert route_table_status()["error"] is None


@pytest.mark.parametrize(
    ("domain", "target", "message"),
    [
        ("billing", "remote", "domains.billing: no such domain in {path} (routed domains: jobs, users)"),
        ("jobs", "cloud", "domains.jobs.target: 'cloud' is not a target; choose one of legacy, app, remote"),
        (
            "users",
            "remote",
            "refusing to flip users to remote, the table would be invalid: "
            "domains.users.upstreams: a remote target needs at least one upstream URL",
        ),
        (
            "jobs",
            "legacy",
            "refusing to flip jobs to legacy, the table would be invalid: "
            "domains.jobs.canary.target: sends the canary to 'legacy', the target itself",
        ),
    ],
)
def test_a_refused_flip_names_the_key_and_leaves_the_file_untouched(
    table_file: Path, settings: Any, domain: str, target: str, message: str
) -> None:
    before = table_file.stat()

    with pytest.raises(CommandError) as refused:
        gateway("flip", domain, target, "--by", "alice", "--file", str(table_file))

    assert str(refused.value) == message.format(path=table_file)
    assert table_file.read_text() == TABLE
    assert (table_file.stat().st_ino, table_file.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(path.name for path in table_file.parent.iterdir()) == ["routes.toml"]
    assert audit_lines(settings) == []


def test_flipping_to_the_current_target_is_a_no_op_that_says_so(table_file: Path, settings: Any) -> None:
    before = table_file.stat()

    output = gateway("flip", "jobs", "app", "--by", "alice", "--file", str(table_file))

    assert output == f"jobs is already served by app; {table_file} is unchanged.\n"
    assert table_file.stat().st_mtime_ns == before.st_mtime_ns
    assert audit_lines(settings) == []


# --- check -----------------------------------------------------------------------------------------------


def test_check_accepts_a_valid_file_without_probing(table_file: Path) -> None:
    output = gateway("check", "--file", str(table_file), "--no-probe")

    assert output == f"{table_file}: valid (2 domains)\n"


def test_check_refuses_a_broken_file_naming_the_key(table_file: Path) -> None:
    table_file.write_text(TABLE.replace('target = "app"   # flip me', 'tagret = "app"'))

    with pytest.raises(CommandError) as refused:
        gateway("check", "--file", str(table_file), "--no-probe")

    assert str(refused.value) == f"{table_file}: domains.jobs: unknown key(s) tagret; allowed: {DOMAIN_KEYS}"


def test_check_exits_non_zero_from_the_command_line_on_a_broken_file(table_file: Path) -> None:
    table_file.write_text(TABLE.replace('target = "app"   # moved', "target = app   # moved"))

    finished = subprocess.run(
        [sys.executable, "manage.py", "gateway", "check", "--file", str(table_file), "--no-probe"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 1
    assert f"CommandError: {table_file}: not valid TOML: " in finished.stderr.splitlines()[-1]


def test_check_probes_the_upstreams_of_remote_targets_and_fails_on_an_unreachable_one(table_file: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    table_file.write_text(
        TABLE.replace('target = "app"   # flip me', 'target = "remote"').replace("http://127.0.0.1:8003", dead)
    )
    out = StringIO()

    with pytest.raises(CommandError) as refused:
        call_command("gateway", "check", "--file", str(table_file), stdout=out)

    assert (
        out.getvalue()
        == f"{table_file}: valid (2 domains)\njobs: upstream {dead}  health: unreachable (ConnectError)\n"
    )
    assert str(refused.value) == f"1 upstream(s) not healthy: jobs {dead} (unreachable (ConnectError))"


def test_check_passes_when_every_probed_upstream_is_healthy(table_file: Path, upstream: Upstream) -> None:
    shadowed = TABLE.replace("http://127.0.0.1:8003", upstream.url).replace(
        "canary = {", 'shadow = { target = "remote" }\ncanary = {'
    )
    table_file.write_text(shadowed)

    output = gateway("check", "--file", str(table_file))

    assert output == f"{table_file}: valid (2 domains)\njobs: upstream {upstream.url}  health: ok\n"


def test_check_has_nothing_to_probe_without_remote_targets(table_file: Path) -> None:
    output = gateway("check", "--file", str(table_file))

    assert output == f"{table_file}: valid (2 domains)\nno domain uses a remote target; nothing to probe\n"


# --- routes ----------------------------------------------------------------------------------------------


@pytest.mark.redis
def test_routes_prints_the_table_in_force_with_upstream_health_and_breaker_state(
    routes_file: Callable[[str], Path], upstream: Upstream, gateway_redis: redis.Redis
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    routes_file(
        TABLE.replace('"http://127.0.0.1:8003"', f'"{upstream.url}", "{dead}"').replace(
            "canary = {", 'shadow = { target = "remote", sample_percent = 25 }\ncanary = {'
        )
    )
    opened = {"state": "opened", "failures": 5, "changed_at": time.time()}
    gateway_redis.hset(breakers_key(), f"jobs {dead}", json.dumps(opened))

    output = gateway("routes")

    status = route_table_status()
    loaded_at = datetime.fromtimestamp(status["loaded_at"], tz=UTC).isoformat()
    assert output.splitlines() == [
        f"Route table {status['path']} (loaded {loaded_at})",
        "Last rejected edit: none",
        "",
        "DOMAIN  TARGET  CANARY     SHADOW      PREFIXES",
        "jobs    app     legacy 5%  remote 25%  /api/jobs/",
        f"    upstream {upstream.url}  health: ok  breaker: closed",
        f"    upstream {dead}  health: unreachable (ConnectError)  breaker: opened",
        "users   app     -          -           /api/users/",
    ]


@pytest.mark.redis
def test_routes_without_probes_says_so(routes_file: Callable[[str], Path], gateway_redis: redis.Redis) -> None:
    routes_file(TABLE)

    output = gateway("routes", "--no-probe")

    assert output.splitlines()[-2:] == [
        "    upstream http://127.0.0.1:8003  health: not probed  breaker: closed",
        "users   app     -          -       /api/users/",
    ]


# --- diffs -----------------------------------------------------------------------------------------------


def diff_line(n: int) -> str:
    return json.dumps(
        {
            "at": f"2026-01-0{n}T00:00:00+00:00",
            "domain": "jobs",
            "method": "GET",
            "path": f"/api/jobs/items/{n}/",
            "primary_target": "app",
            "shadow_target": "remote",
            "status": [200, 200],
            "differences": ["$.name", "$.items[0].id"],
            "request_id": f"req-{n}",
        }
    )


@pytest.mark.redis
def test_diffs_prints_the_last_ones_newest_first(gateway_redis: redis.Redis) -> None:
    for n in (1, 2, 3):
        gateway_redis.lpush(diffs_key(), diff_line(n))

    output = gateway("diffs", "--limit", "2")

    assert output.splitlines() == [
        f"2026-01-0{n}T00:00:00+00:00  jobs  GET /api/jobs/items/{n}/  app->remote  status 200/200  "
        f"differs at $.name, $.items[0].id  request req-{n}"
        for n in (3, 2)
    ]


@pytest.mark.redis
def test_diffs_can_print_the_raw_records(gateway_redis: redis.Redis) -> None:
    gateway_redis.lpush(diffs_key(), diff_line(1))

    assert gateway("diffs", "--json") == diff_line(1) + "\n"


@pytest.mark.redis
def test_diffs_says_when_there_are_none(gateway_redis: redis.Redis) -> None:
    assert gateway("diffs") == "No shadow diffs recorded.\n"
