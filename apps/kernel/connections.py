"""Database connections given back before a request's long I/O."""

from __future__ import annotations

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper


def connection_release(alias: str) -> None:
    """Close this thread's connection to `alias` now if the request's end would close it anyway (CONN_MAX_AGE 0, as
    PostgreSQL has here), unless a transaction is open on it; the next query opens a new one.

    Django checks a connection's age only when a request starts and ends, so a request that moves bytes for minutes
    after its last query (a tus chunk from a slow client, a multi-GB download) held an idle database connection all
    along, and enough of them at once exhaust the database server's max_connections. A connection meant to be kept
    (an embedded SQLite database on a warm request thread, apps/kernel/request_threads.py) stays open.
    """
    _release(connections[alias])


def connections_release() -> None:
    """`connection_release` for every database this thread has touched: before a background task's long transfer
    (a job's inputs sent to a remote service, its results fetched), which would otherwise hold each of them idle
    until the task ends."""
    for connection in connections.all(initialized_only=True):
        _release(connection)


def _release(connection: BaseDatabaseWrapper) -> None:
    if connection.connection is not None and not connection.in_atomic_block and connection.get_autocommit():
        connection.close_if_unusable_or_obsolete()
