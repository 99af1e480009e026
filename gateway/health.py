"""Liveness and readiness probes of the gateway process.

/healthz answers while the process can serve at all; /readyz says whether it can do useful work: every
database alias answers, Redis answers, and at least one Celery worker replies to a ping.
"""

from __future__ import annotations

from dataclasses import dataclass

from celery import current_app
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.kernel.streams import redis_client

WORKER_PING_TIMEOUT = 1.0


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


def check_database(alias: str) -> Check:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
        return Check(True, connections[alias].vendor)
    except Exception as exc:
        return Check(False, f"{type(exc).__name__}: {exc}")


def check_redis() -> Check:
    try:
        redis_client().ping()
        return Check(True, "pong")
    except Exception as exc:
        return Check(False, f"{type(exc).__name__}: {exc}")


def check_worker() -> Check:
    try:
        with current_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            replies = current_app.control.ping(timeout=WORKER_PING_TIMEOUT, limit=1, connection=connection)
    except Exception as exc:
        return Check(False, f"broker unreachable: {type(exc).__name__}: {exc}")
    if not replies:
        return Check(False, f"no Celery worker answered a ping within {WORKER_PING_TIMEOUT:g}s")
    return Check(True, "answered by " + ", ".join(name for reply in replies for name in reply))


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {f"db.{alias}": check_database(alias) for alias in settings.DATABASES if alias != "default"}
    checks["redis"] = check_redis()
    checks["worker"] = check_worker() if checks["redis"].ok else Check(False, "skipped: Redis is down")
    ready = all(check.ok for check in checks.values())
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": {name: {"ok": check.ok, "detail": check.detail} for name, check in checks.items()},
    }
    return JsonResponse(body, status=200 if ready else 503)
