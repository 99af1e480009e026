"""The platform's health: every dependency probed at once, each judged, and one overall verdict.

Components, and what each one being down does to the whole (its `impact`):

- database.<alias>: SELECT 1 failed. Critical for the contexts' aliases (MONITORING_CRITICAL_DATABASES), degraded
  for the others (legacy, node).
- redis: PING failed, so no broker, event bus or push. Critical.
- workers: no Celery worker consumes one of MONITORING_WORKER_QUEUES. Critical.
- deployable.<context>: an extracted context's /healthz (CONTEXT_URLS) did not answer 200. Critical.
- storage: the files' storage (local directory or S3 bucket, probed by the files context) missing, not writable or
  not answering is critical; low local free space is degraded.
- events: an outbox or consumer group behind beyond its limits, or dead letters parked. Degraded.
- services: external imputation services unhealthy or timing out. Degraded.

Overall: `critical` when a critical-impact component is down, else `degraded` when anything is not ok, else
`healthy`. Probes run concurrently, each in its own thread with its own database connections (closed after), and
the whole report waits at most MONITORING_HEALTH_TIMEOUT: a probe still hanging then counts as down.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache, partial
from typing import Any

import redis
from celery import current_app
from django.conf import settings
from django.db import connections
from django.utils import timezone

from apps.files.public import get_files_service
from apps.kernel.consumers import Consumer
from apps.kernel.outbox import OutboxEventBase
from apps.monitoring.models import DB, SERVICE_DOWN_STATUSES, ServiceState
from apps.monitoring.selectors.events import event_lag

OK, DEGRADED, DOWN = "ok", "degraded", "down"
HEALTHY, CRITICAL = "healthy", "critical"  # overall verdicts, with DEGRADED
LEVELS = (HEALTHY, DEGRADED, CRITICAL)


@dataclass(frozen=True)
class Component:
    name: str
    status: str  # ok | degraded | down
    impact: str  # what this component being down does to the whole: critical | degraded
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    latency_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "impact": self.impact,
            "detail": self.detail,
            "latency_ms": self.latency_ms,
            "data": self.data,
        }


@dataclass(frozen=True)
class HealthReport:
    status: str  # healthy | degraded | critical
    checked_at: datetime
    components: list[Component]

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)


def health_verdict(components: Iterable[Component]) -> str:
    verdict = HEALTHY
    for c in components:
        if c.status == DOWN and c.impact == CRITICAL:
            return CRITICAL
        if c.status != OK:
            verdict = DEGRADED
    return verdict


def impact_of(name: str) -> str:
    """What a component being down does to the whole (the table in this module's docstring)."""
    if name.startswith("database."):
        return CRITICAL if name.removeprefix("database.") in settings.MONITORING_CRITICAL_DATABASES else DEGRADED
    if name in ("redis", "workers", "storage") or name.startswith("deployable."):
        return CRITICAL
    return DEGRADED


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


@lru_cache(maxsize=4)
def _probe_client(url: str, timeout: float) -> redis.Redis:
    """Short timeouts, unlike the event bus's client: a probe must answer while Redis hangs."""
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout)


def probe_redis_client() -> redis.Redis:
    return _probe_client(settings.REDIS_URL, float(settings.MONITORING_HEALTH_TIMEOUT))


# --- the probes: each returns a Component and never raises -----------------------------------------------------


def database_check(alias: str) -> Component:
    impact = impact_of(f"database.{alias}")
    started = time.perf_counter()
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        vendor = connections[alias].vendor
    except Exception as exc:
        return Component(f"database.{alias}", DOWN, impact, _failure(exc))
    return Component(f"database.{alias}", OK, impact, vendor, latency_ms=_ms(started))


def redis_check() -> Component:
    started = time.perf_counter()
    try:
        probe_redis_client().ping()
    except Exception as exc:
        return Component("redis", DOWN, CRITICAL, _failure(exc))
    return Component("redis", OK, CRITICAL, "PONG", latency_ms=_ms(started))


def workers_check() -> Component:
    """Which Celery workers answer, and whether each queue that must be served has one."""
    wanted = list(settings.MONITORING_WORKER_QUEUES)
    timeout = float(settings.MONITORING_WORKER_PING_TIMEOUT)
    started = time.perf_counter()
    try:
        with current_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            replies = current_app.control.inspect(timeout=timeout, connection=connection).active_queues() or {}
    except Exception as exc:
        return Component("workers", DOWN, CRITICAL, f"broker unreachable: {_failure(exc)}")
    queues = {worker: sorted(q["name"] for q in served or []) for worker, served in replies.items()}
    unserved = [queue for queue in wanted if not any(queue in served for served in queues.values())]
    data = {"workers": sorted(queues), "queues": queues, "unserved": unserved}
    if not queues:
        return Component("workers", DOWN, CRITICAL, f"no Celery worker answered within {timeout:g}s", data)
    if unserved:
        return Component("workers", DOWN, CRITICAL, f"no worker consumes {', '.join(unserved)}", data, _ms(started))
    return Component("workers", OK, CRITICAL, f"{len(queues)} worker(s)", data, _ms(started))


def deployable_check(context: str, base_url: str) -> Component:
    """An extracted context's liveness probe, over plain HTTP (stdlib; only http/https URLs from settings)."""
    name = f"deployable.{context}"
    url = base_url.rstrip("/") + "/healthz"
    if not url.startswith(("http://", "https://")):
        return Component(name, DOWN, CRITICAL, f"CONTEXT_URLS[{context!r}] is not an http(s) URL")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=float(settings.MONITORING_HEALTH_TIMEOUT)) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except Exception as exc:
        return Component(name, DOWN, CRITICAL, f"{url}: {_failure(exc)}", {"url": base_url})
    if status != 200:
        return Component(name, DOWN, CRITICAL, f"{url} answered {status}", {"url": base_url})
    return Component(name, OK, CRITICAL, f"{url} answered 200", {"url": base_url}, _ms(started))


def storage_check() -> Component:
    """The files context's storage as its public interface probes it: local or S3 alike, and asked of the files
    deployable when that is extracted. Its /healthz only says the process answers, so without asking, a dead bucket
    behind a live deployable would go unseen; an unreachable deployable then makes storage down too (it cannot be
    verified), next to its own deployable component. Free space is judged here, against this context's setting."""
    if not settings.HOLDS_FILES and "files" not in settings.CONTEXT_URLS:
        # a deployable of another context, with files still in the monolith: the monolith's own report probes it
        return Component("storage", OK, CRITICAL, "not held by this process: not probed here", {"backend": "elsewhere"})
    started = time.perf_counter()
    try:
        health = get_files_service().storage_health()
    except Exception as exc:
        return Component("storage", DOWN, CRITICAL, _failure(exc))
    data = {"backend": health.backend, **health.data}
    if not health.ok:
        return Component("storage", DOWN, CRITICAL, health.detail, data)
    free = health.data.get("free_bytes")
    if isinstance(free, int) and free < int(settings.MONITORING_STORAGE_MIN_FREE_BYTES):
        return Component("storage", DEGRADED, CRITICAL, f"{health.detail}: only {free} bytes free", data, _ms(started))
    return Component("storage", OK, CRITICAL, health.detail, data, _ms(started))


def events_check(
    *, outboxes: Iterable[type[OutboxEventBase]] | None = None, consumers: Iterable[Consumer] | None = None
) -> Component:
    try:
        lag = event_lag(client=probe_redis_client(), outboxes=outboxes, consumers=consumers)
    except Exception as exc:
        return Component("events", DEGRADED, DEGRADED, f"could not be measured: {_failure(exc)}")
    limit, age = int(settings.MONITORING_EVENT_BACKLOG_MAX), float(settings.MONITORING_EVENT_BACKLOG_AGE_SECONDS)
    problems = [
        f"outbox {o.context}: {o.pending} unpublished, oldest {o.oldest_seconds or 0:.0f}s"
        for o in lag.outboxes
        if o.pending is not None and (o.pending > limit or (o.oldest_seconds or 0) > age)
    ]
    problems += [
        f"consumer {c.consumer}: {c.pending} pending, {c.lag if c.lag is not None else '?'} unread"
        for c in lag.consumers
        if (c.pending or 0) + (c.lag or 0) > limit
    ]
    if lag.dead_letters:
        problems.append(f"{lag.dead_letters} dead letter(s) parked (manage.py events_deadletters list)")
    data = lag.as_data()
    if problems:
        return Component("events", DEGRADED, DEGRADED, "; ".join(problems), data)
    return Component("events", OK, DEGRADED, "flowing", data)


def services_check() -> Component:
    """The external services' latest health as the registry announced it (this context's projection)."""
    try:
        states = list(ServiceState.objects.using(DB).order_by("service_id"))
    except Exception as exc:
        return Component("services", DEGRADED, DEGRADED, f"could not be read: {_failure(exc)}")
    data = {
        "services": [
            {
                "id": s.service_id,
                "slug": s.slug,
                "status": s.status,
                "checked_at": s.checked_at.isoformat() if s.checked_at else None,
                "down_since": s.down_since.isoformat() if s.down_since else None,
            }
            for s in states
        ]
    }
    down = [s.slug or str(s.service_id) for s in states if s.status in SERVICE_DOWN_STATUSES]
    if down:
        return Component("services", DEGRADED, DEGRADED, f"{len(down)} of {len(states)} down: {', '.join(down)}", data)
    return Component("services", OK, DEGRADED, f"{len(states)} known, none down", data)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


# --- the report ------------------------------------------------------------------------------------------------


def health_probes(
    *,
    aliases: Iterable[str] | None = None,
    deployables: Mapping[str, str] | None = None,
    outboxes: Iterable[type[OutboxEventBase]] | None = None,
    consumers: Iterable[Consumer] | None = None,
    workers: bool = True,
) -> dict[str, Callable[[], Component]]:
    """name -> probe, for this process's configuration unless told which aliases, deployables, outboxes and
    consumers to look at (tests name their own)."""
    aliases = [a for a in settings.DATABASES if a != "default"] if aliases is None else list(aliases)
    if deployables is None:
        deployables = {c: url for c, url in settings.CONTEXT_URLS.items() if c != settings.DEPLOYABLE}
    probes: dict[str, Callable[[], Component]] = {
        f"database.{alias}": partial(database_check, alias) for alias in aliases
    }
    probes["redis"] = redis_check
    if workers:
        probes["workers"] = workers_check
    probes["storage"] = storage_check
    probes["events"] = partial(events_check, outboxes=outboxes, consumers=consumers)
    probes["services"] = services_check
    for context, url in sorted(deployables.items()):
        probes[f"deployable.{context}"] = partial(deployable_check, context, url)
    return probes


def _in_own_connections(probe: Callable[[], Component]) -> Component:
    try:
        return probe()
    finally:
        connections.close_all()  # this thread's connections only: Django's are per thread


def health_report(*, probes: Mapping[str, Callable[[], Component]] | None = None) -> HealthReport:
    """Run every probe at once; those still running after MONITORING_HEALTH_TIMEOUT (+1 s of grace) count as down."""
    probes = health_probes() if probes is None else probes
    limit = float(settings.MONITORING_HEALTH_TIMEOUT) + 1.0
    pool = ThreadPoolExecutor(max_workers=max(1, len(probes)), thread_name_prefix="health")
    try:
        futures = {name: pool.submit(_in_own_connections, probe) for name, probe in probes.items()}
        wait(futures.values(), timeout=limit)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    components = []
    for name, future in futures.items():
        if future.done() and future.exception() is None:
            components.append(future.result())
        else:
            error = future.exception() if future.done() else None
            reason = _failure(error) if error else f"no answer within {limit:g}s"
            components.append(Component(name, DOWN, impact_of(name), reason))
    components.sort(key=lambda c: c.name)
    return HealthReport(health_verdict(components), timezone.now(), components)


_recent_lock = threading.Lock()
_recent: list[HealthReport] = []  # the last report this process made, reused for MONITORING_HEALTH_CACHE_SECONDS


def health_report_recent() -> HealthReport:
    """A report at most MONITORING_HEALTH_CACHE_SECONDS old: an anonymous endpoint must not let every request fan
    out probes (the worker ping alone waits MONITORING_WORKER_PING_TIMEOUT). Concurrent callers share one run."""
    max_age = float(settings.MONITORING_HEALTH_CACHE_SECONDS)
    if max_age <= 0:
        return health_report()
    with _recent_lock:
        if _recent and (timezone.now() - _recent[0].checked_at).total_seconds() < max_age:
            return _recent[0]
        report = health_report()
        _recent[:] = [report]
        return report
