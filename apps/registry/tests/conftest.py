"""Fixtures of the registry tests: the users context answered by a stub of its public interface."""

from __future__ import annotations

import pytest

from apps.registry.api import views
from apps.registry.tests.factories import UsersStub


@pytest.fixture(autouse=True)
def users(monkeypatch: pytest.MonkeyPatch) -> UsersStub:
    stub = UsersStub()
    monkeypatch.setattr(views, "get_users_service", lambda: stub)
    return stub
