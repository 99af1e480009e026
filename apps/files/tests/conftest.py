"""Fixtures of the files context's own tests: storage in a temporary directory, a users context that answers
quotas without the users database (this context's tests touch only `files`), eager tasks, private rate limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apps.files.tests.helpers import FakeUsers


@pytest.fixture(autouse=True)
def media(tmp_path: Path, settings: Any) -> Path:
    settings.FILES_STORAGE = "local"
    settings.FILES_MEDIA_ROOT = tmp_path / "media"
    return tmp_path / "media"


@pytest.fixture(autouse=True)
def users(monkeypatch: pytest.MonkeyPatch) -> FakeUsers:
    fake = FakeUsers()
    monkeypatch.setattr("apps.files.services.uploads.get_users_service", lambda: fake)
    return fake


@pytest.fixture(autouse=True)
def isolated(own_rate_limit_counters: None, celery_eager: None) -> None:
    """Own rate-limit counters, and Celery tasks run eagerly (both fixtures live in the root conftest.py)."""
