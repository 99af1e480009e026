"""Fixtures of the notifications tests: the users context as a stub, pushes recorded instead of sent (the real
channel layer is exercised in tests/notifications/), Celery eager, a settable clock, private rate limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.notifications import push, recipients
from apps.notifications.push import Push
from apps.notifications.tests.factories import Clock, UsersStub


@pytest.fixture(autouse=True)
def users(monkeypatch: pytest.MonkeyPatch) -> UsersStub:
    stub = UsersStub()
    monkeypatch.setattr(recipients, "get_users_service", lambda: stub)
    return stub


@pytest.fixture(autouse=True)
def pushed(monkeypatch: pytest.MonkeyPatch) -> list[Push]:
    """Every push that left, in order, as (user id, message)."""
    sent: list[Push] = []
    monkeypatch.setattr(push, "push_send", sent.extend)
    return sent


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """django.utils.timezone.now under the test's control, for everything that asks it."""
    moment = Clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    monkeypatch.setattr("django.utils.timezone.now", lambda: moment.now)
    return moment


@pytest.fixture(autouse=True)
def isolated(own_rate_limit_counters: None, celery_eager: None) -> None:
    """Own rate-limit counters, and Celery tasks run eagerly (both fixtures live in the root conftest.py)."""
