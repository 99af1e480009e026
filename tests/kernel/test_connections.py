"""connection_release and connections_release (apps/kernel/connections.py): which connections they close before a
request's or a task's long I/O."""

from __future__ import annotations

import time

import pytest
from django.db import connections, transaction

from apps.kernel.connections import connection_release, connections_release

pytestmark = pytest.mark.django_db(databases=["files", "jobs"], transaction=True)  # no test transaction around each


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each time the files connection would be closed; it stays open, so the test database keeps working."""
    calls: list[str] = []
    connection = connections["files"]
    connection.ensure_connection()
    monkeypatch.setattr(connection, "close", lambda: calls.append("closed"))
    monkeypatch.setattr(connection, "close_at", connection.close_at)  # put back whatever a test sets
    return calls


def test_a_connection_the_requests_end_would_close_is_closed_now(closed: list[str]) -> None:
    # given a connection past its age (CONN_MAX_AGE 0 makes every connection so)
    connections["files"].close_at = time.monotonic() - 1
    # when it is released
    connection_release("files")
    # then it is closed
    assert closed == ["closed"]


@pytest.mark.parametrize("close_at", [None, 600.0], ids=["persistent", "within its age"])
def test_a_connection_meant_to_outlive_the_request_stays_open(closed: list[str], close_at: float | None) -> None:
    # given a connection kept across requests (CONN_MAX_AGE None, or not yet as old as its CONN_MAX_AGE)
    connections["files"].close_at = None if close_at is None else time.monotonic() + close_at
    # when it is released
    connection_release("files")
    # then it stays open
    assert closed == []


def test_a_connection_in_a_transaction_stays_open_however_old(closed: list[str]) -> None:
    # given an old connection inside a transaction
    connections["files"].close_at = time.monotonic() - 1
    with transaction.atomic(using="files"):
        # when it is released
        connection_release("files")
    # then the transaction keeps it
    assert closed == []


def test_every_connection_this_thread_opened_is_released(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given connections to two databases, both past their age
    closed: list[str] = []
    for alias in ("files", "jobs"):
        connection = connections[alias]
        connection.ensure_connection()
        monkeypatch.setattr(connection, "close", lambda alias=alias: closed.append(alias))
        monkeypatch.setattr(connection, "close_at", time.monotonic() - 1)
    # when this thread's connections are released
    connections_release()
    # then both are closed
    assert sorted(closed) == ["files", "jobs"]
