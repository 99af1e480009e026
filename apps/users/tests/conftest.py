"""Fixtures of the users context's tests: gateway rate-limit counters of each test's own."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated(own_rate_limit_counters: None) -> None:
    """Every users test counts its own rate limits (the fixture lives in the root conftest.py)."""
