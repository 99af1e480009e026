"""The test harness itself: unreachable services fail under REQUIRE_SERVICES, migrations are complete and apply."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from config.settings.profiles import DATABASE_ALIASES

ROOT = Path(__file__).resolve().parents[2]


def _pytest_with_dead_redis(require: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0", "REQUIRE_SERVICES": require}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/kernel/test_event_path.py::"
         "test_a_change_and_its_event_commit_together_and_reach_the_stream"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_an_unreachable_redis_is_a_failure_when_services_are_required() -> None:
    result = _pytest_with_dead_redis("1")

    assert result.returncode == 1
    assert "REQUIRE_SERVICES=1 and Redis at redis://127.0.0.1:1/0 is unreachable" in result.stdout


def test_an_unreachable_redis_is_a_reported_skip_otherwise() -> None:
    result = _pytest_with_dead_redis("0")

    assert result.returncode == 0
    assert "1 skipped" in result.stdout and "passed" not in result.stdout


@pytest.mark.django_db(databases=list(DATABASE_ALIASES))
def test_models_and_migrations_agree() -> None:
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)  # exits non-zero on a missing migration


@pytest.mark.django_db(databases=list(DATABASE_ALIASES))
def test_migrate_all_migrates_every_alias_and_never_default(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("migrate_all", verbosity=1)

    out = capsys.readouterr().out
    assert [line[3:] for line in out.splitlines() if line.startswith("== ")] == list(DATABASE_ALIASES)
    assert out.splitlines()[-1] == "migrated 8 database aliases"
