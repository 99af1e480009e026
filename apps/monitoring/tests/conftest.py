"""Fixtures of the monitoring tests: the users, registry and files contexts as stubs of their public interfaces,
no cached health reports, private rate-limit counters."""

from __future__ import annotations

import io
import os
import shutil
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import pytest

from apps.files.public import FileInfo, FilesService, FilesUnavailableError, StorageHealth
from apps.monitoring import access
from apps.monitoring.selectors import health
from apps.monitoring.tests.factories import RegistryStub, UsersStub

GIB = 1024**3
MEDIA = "/srv/media"


@dataclass
class FilesStub(FilesService):
    """The files context as the health report asks it: the storage's health it is told (a healthy local root with
    plenty of space unless a test says otherwise), or a files deployable that cannot be reached."""

    storage: StorageHealth = field(
        default_factory=lambda: StorageHealth(
            "local", True, MEDIA, {"root": MEDIA, "free_bytes": 50 * GIB, "total_bytes": 100 * GIB}
        )
    )
    unavailable: bool = False

    def storage_health(self) -> StorageHealth:
        if self.unavailable:
            raise FilesUnavailableError("files deployable unreachable: ConnectError (stub)")
        return self.storage

    def file_get(self, *, file_id: int) -> FileInfo:
        raise NotImplementedError("monitoring never reads files")

    def file_open(self, *, file_id: int) -> AbstractContextManager[io.BufferedIOBase]:
        raise NotImplementedError("monitoring never reads files")

    def result_register(self, **fields: Any) -> FileInfo:
        raise NotImplementedError("monitoring never stores results")

    def result_store(self, **fields: Any) -> FileInfo:
        raise NotImplementedError("monitoring never stores results")


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
def files(monkeypatch: pytest.MonkeyPatch) -> FilesStub:
    stub = FilesStub()
    monkeypatch.setattr(health, "get_files_service", lambda: stub)
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
