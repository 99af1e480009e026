"""Database connections given back before a request's long I/O."""

from __future__ import annotations

from django.db import connections


def connection_release(alias: str) -> None:
    """Close this thread's connection to `alias` now if it would not outlive the request anyway (CONN_MAX_AGE 0, as
    PostgreSQL has here) and no transaction is open on it; the next query opens a new one.

    Django closes such a connection only when the request ends, so a request that then moves bytes for minutes (a
    tus chunk from a slow client, a multi-GB download) held an idle database connection all along, and enough of
    them at once exhaust the database server's max_connections. A connection meant to be kept (an embedded SQLite
    database on a warm request thread, apps/kernel/request_threads.py) stays open.
    """
    connection = connections[alias]
    if connection.connection is not None and not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()
