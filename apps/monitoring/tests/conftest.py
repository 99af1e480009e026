"""Fixtures of the monitoring tests: the users and registry contexts as stubs of their public interfaces, no
cached health reports, private rate-limit counters."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

from apps.monitoring import access
from apps.monitoring.tests.factories import RegistryStub, UsersStub


@pytest.fixture(autouse=True)
def users(monkeypatch: pytest.MonkeyPatch) -> UsersStub:
    stub = UsersStub()
    monkeypatch.setattr(access, "get_users_service", lambda: stub)
    return stub


@pytest.fixture(autouse=True)
def registry(monkeypatch: pytest.MonkeyPatch) -> RegistryStub:
    stub = RegistryStub()
    monkeypatch.setattr(access, "get_registry_service", lambda: stub)
    return stub


@pytest.fixture(autouse=True)
def fresh_health(settings: Any) -> None:
    settings.MONITORING_HEALTH_CACHE_SECONDS = 0


@pytest.fixture
def own_counters(own_rate_limit_counters: None) -> None:
    """API tests pass the gateway's rate limits with counters of their own (root conftest.py)."""


def tool_required(name: str) -> str:
    """The path of a command-line tool a test runs; skipped when absent, failed when REQUIRE_SERVICES=1 (CI installs
    it: .ci/run's APT_NEEDS)."""
    found = shutil.which(name)
    if found:
        return found
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"REQUIRE_SERVICES=1 and `{name}` is not installed (Debian package `prometheus`)", pytrace=False)
    pytest.skip(f"`{name}` is not installed (Debian package `prometheus`)")
