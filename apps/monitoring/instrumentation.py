"""Per-alias database metrics and cache metrics, on django-prometheus's metric families.

Database: django-prometheus's own integration replaces each alias's ENGINE with its wrapped backends. Here the
engines stay as the profiles build them (config/settings/profiles.py and its tests own them); instead, every new
connection of every alias gets an execute wrapper that records the same series (`django_db_execute_total`,
`django_db_query_duration_seconds`, `django_db_errors_total`, `django_db_new_connections_total`, by alias and
vendor), so dashboards and alerts written for django-prometheus work unchanged. Connected by MonitoringConfig.ready()
when MONITORING_DB_METRICS is on.

Cache: `MeteredRedisCache`, Django's Redis cache counting gets, hits and misses on django-prometheus's cache
families (its own Redis backend needs the django-redis package, which the platform does not use).

django-prometheus's request middlewares are not installed: the gateway already measures every routed request per
domain and target (gateway/metrics.py), and those sync-only middlewares would add a thread hop to each request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache
from django.db.backends.base.base import BaseDatabaseWrapper
from django_prometheus.cache.metrics import (  # type: ignore[import-untyped]
    django_cache_get_fail_total,
    django_cache_get_total,
    django_cache_hits_total,
    django_cache_misses_total,
)
from django_prometheus.db.metrics import (  # type: ignore[import-untyped]
    connections_total,
    errors_total,
    execute_many_total,
    execute_total,
    query_duration_seconds,
)

CACHE_BACKEND_LABEL = "redis"


def query_observe(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    """A Django execute wrapper: counts each statement (each row of an executemany), times it, counts failures."""
    connection = context["connection"]
    alias, vendor = connection.alias, connection.vendor
    statements = len(params) if many and hasattr(params, "__len__") else 1
    execute_total.labels(alias, vendor).inc(statements)
    if many:
        execute_many_total.labels(alias, vendor).inc(statements)
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    except Exception as exc:
        errors_total.labels(alias, vendor, type(exc).__name__).inc()
        raise
    finally:
        query_duration_seconds.labels(alias, vendor).observe(time.perf_counter() - started)


def connection_instrument(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """`connection_created` receiver: count the connection, and wrap its statements once per wrapper object."""
    connections_total.labels(connection.alias, connection.vendor).inc()
    if query_observe not in connection.execute_wrappers:
        # first, not last: `connection.execute_wrapper()` blocks pop the list's end when they exit
        connection.execute_wrappers.insert(0, query_observe)


class MeteredRedisCache(RedisCache):
    """Django's Redis cache, counting gets, hits, misses and failures (CACHES BACKEND in config/settings/base.py)."""

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        django_cache_get_total.labels(backend=CACHE_BACKEND_LABEL).inc()
        missing = object()
        try:
            value = super().get(key, missing, version)
        except Exception:
            django_cache_get_fail_total.labels(backend=CACHE_BACKEND_LABEL).inc()
            raise
        if value is missing:
            django_cache_misses_total.labels(backend=CACHE_BACKEND_LABEL).inc()
            return default
        django_cache_hits_total.labels(backend=CACHE_BACKEND_LABEL).inc()
        return value
