"""Fixtures of the jobs context's own tests: the users, registry and files contexts answered by stubs of their
public interfaces (apps/jobs/tests/stubs.py), eager Celery, private rate limits, a spool in tmp."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apps.jobs.tests.stubs import FilesStub, RegistryStub, UsersStub

USERS_AT = ("apps.jobs.services.jobs", "apps.jobs.services.orchestration", "apps.jobs.api.views")
REGISTRY_AT = ("apps.jobs.services.jobs", "apps.jobs.services.orchestration")
FILES_AT = ("apps.jobs.services.jobs", "apps.jobs.services.submission", "apps.jobs.services.results")


@pytest.fixture(autouse=True)
def users(monkeypatch: pytest.MonkeyPatch) -> UsersStub:
    stub = UsersStub()
    for module in USERS_AT:
        monkeypatch.setattr(f"{module}.get_users_service", lambda: stub)
    return stub


@pytest.fixture(autouse=True)
def registry(monkeypatch: pytest.MonkeyPatch) -> RegistryStub:
    stub = RegistryStub()
    for module in REGISTRY_AT:
        monkeypatch.setattr(f"{module}.get_registry_service", lambda: stub)
    return stub


@pytest.fixture(autouse=True)
def files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FilesStub:
    (tmp_path / "files").mkdir()
    stub = FilesStub(root=tmp_path / "files")
    for module in FILES_AT:
        monkeypatch.setattr(f"{module}.get_files_service", lambda: stub)
    return stub


@pytest.fixture(autouse=True)
def isolated(own_rate_limit_counters: None, celery_eager: None, settings: Any, tmp_path: Path) -> None:
    """Own rate-limit counters and eager Celery (root conftest.py); a private spool; no jitter, short waits."""
    settings.JOBS_SPOOL_DIR = tmp_path / "spool"
    settings.JOBS_POLL_JITTER = 0.0
