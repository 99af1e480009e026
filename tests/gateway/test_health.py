"""The gateway's own probes and its fallback to the web UI for client-side routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import current_app
from django.db import connections
from django.test import Client

import gateway.health
from apps.kernel import streams
from config.settings.profiles import DATABASE_ALIASES

EVERY_DATABASE = pytest.mark.django_db(databases=list(DATABASE_ALIASES))


@pytest.fixture
def fast_worker_ping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway.health, "WORKER_PING_TIMEOUT", 0.2)


@pytest.fixture
def redis_down(settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    settings.REDIS_URL = "unix:///nonexistent.sock"
    monkeypatch.setattr(current_app.conf, "broker_url", "redis+socket:///nonexistent.sock")
    streams._client.cache_clear()
    yield
    streams._client.cache_clear()


def _database_checks() -> dict[str, dict[str, object]]:
    return {f"db.{alias}": {"ok": True, "detail": connections[alias].vendor} for alias in DATABASE_ALIASES}


def test_healthz_answers_ok_and_is_never_cached() -> None:
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    cache_control = response["Cache-Control"]
    assert "no-store" in cache_control or "max-age=0" in cache_control
    assert "X-Request-ID" in response


def test_healthz_accepts_only_get() -> None:
    response = Client().post("/healthz")

    assert response.status_code == 405
    assert response["Allow"] == "GET"


@pytest.mark.redis
@EVERY_DATABASE
@pytest.mark.usefixtures("fast_worker_ping")
def test_readyz_is_unavailable_while_no_worker_answers() -> None:
    response = Client().get("/readyz")

    body = response.json()
    assert response.status_code == 503
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert body["status"] == "unavailable"
    assert set(body["checks"]) == {*(f"db.{alias}" for alias in DATABASE_ALIASES), "redis", "worker"}
    assert {name: check for name, check in body["checks"].items() if name.startswith("db.")} == _database_checks()
    assert body["checks"]["redis"] == {"ok": True, "detail": "pong"}
    assert body["checks"]["worker"]["ok"] is False
    assert body["checks"]["worker"]["detail"].startswith("no Celery worker answered a ping within ")


@pytest.mark.redis
@EVERY_DATABASE
@pytest.mark.usefixtures("fast_worker_ping", "redis_down")
def test_readyz_reports_redis_down_and_skips_the_worker_check() -> None:
    response = Client().get("/readyz")

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert set(body["checks"]) == {*(f"db.{alias}" for alias in DATABASE_ALIASES), "redis", "worker"}
    assert {name: check for name, check in body["checks"].items() if name.startswith("db.")} == _database_checks()
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["redis"]["detail"].startswith("ConnectionError: ")
    assert "/nonexistent.sock" in body["checks"]["redis"]["detail"]
    assert body["checks"]["worker"] == {"ok": False, "detail": "skipped: Redis is down"}


def test_a_client_side_route_is_served_the_web_ui_index(settings, tmp_path: Path) -> None:
    index = b"<!doctype html><title>Imputation</title><div id=app></div>"
    (tmp_path / "index.html").write_bytes(index)
    settings.FRONTEND_DIST = tmp_path

    response = Client().get("/jobs/123")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response.content == index


def test_a_client_side_route_without_a_built_web_ui_says_how_to_build_it(settings, tmp_path: Path) -> None:
    settings.FRONTEND_DIST = tmp_path

    response = Client().get("/jobs/123")

    assert response.status_code == 503
    assert response["Content-Type"] == "text/plain"
    assert response.content.decode() == "The web UI is not built yet: run `make run` (or `npm run build` in frontend/)."


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [("/api/jobs/123", 401, "AUTHENTICATION_ERROR"), ("/api/does-not-exist/", 404, "NOT_FOUND")],
    ids=["routed-and-protected", "unrouted"],
)
def test_api_paths_are_never_served_the_web_ui(settings, tmp_path: Path, path: str, status: int, code: str) -> None:
    (tmp_path / "index.html").write_bytes(b"<!doctype html>")
    settings.FRONTEND_DIST = tmp_path

    response = Client().get(path)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
