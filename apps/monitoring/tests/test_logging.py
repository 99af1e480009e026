"""Structured logs (apps/kernel/logging_json.py) and the request id's journey (apps/kernel/request_id.py): each line
is one JSON object with request_id, user_id, context and deployable; the id rides Celery messages as a header and
is bound while the task runs."""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from celery import Celery
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.utils.functional import SimpleLazyObject

from apps.kernel.logging_json import JsonLogFormatter, LogContextFilter, log_context_of
from apps.kernel.request_id import TASK_HEADER, RequestIdMiddleware, request_id_bound, request_id_get
from apps.monitoring.tests.processes import redis_start, worker_start


def _logged(logger_name: str, message: str, **extra: Any) -> dict[str, Any]:
    """What the platform's handler writes for one record: the JSON formatter behind the context filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    handler.addFilter(LogContextFilter())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        logger.warning(message, extra=extra)
    finally:
        logger.removeHandler(handler)
    [line] = stream.getvalue().splitlines()
    return dict(json.loads(line))


def test_a_line_is_one_json_object_with_the_request_context() -> None:
    with request_id_bound("req-0123456789"):
        line = _logged("apps.jobs.services", "job submitted", job_id="j-1")

    assert line == {
        "timestamp": line["timestamp"],
        "level": "WARNING",
        "logger": "apps.jobs.services",
        "message": "job submitted",
        "request_id": "req-0123456789",
        "user_id": None,
        "context": "jobs",
        "deployable": "monolith",
        "job_id": "j-1",
    }
    assert line["timestamp"].endswith("+00:00")


@pytest.mark.parametrize(
    ("logger", "context"),
    [("apps.monitoring.tasks", "monitoring"), ("gateway.proxy", "gateway"), ("celery.worker", "celery"), ("", "-")],
)
def test_the_context_is_the_part_of_the_code_base_that_logged(logger: str, context: str) -> None:
    assert log_context_of(logger) == context


def test_lines_logged_while_serving_a_request_name_its_id_and_the_authenticated_caller() -> None:
    lines: list[dict[str, Any]] = []

    def view(request: HttpRequest) -> HttpResponse:
        lines.append(_logged("apps.monitoring.api", "before authentication"))
        request.user = SimpleNamespace(is_authenticated=True, pk=42)  # type: ignore[assignment]  # what DRF sets
        lines.append(_logged("apps.monitoring.api", "after authentication"))
        return HttpResponse("ok")

    response = RequestIdMiddleware(view)(RequestFactory().get("/", headers={"X-Request-ID": "client-req-0042"}))

    assert response["X-Request-ID"] == "client-req-0042"
    assert [(line["request_id"], line["user_id"]) for line in lines] == [
        ("client-req-0042", None),
        ("client-req-0042", 42),
    ]


def test_a_session_user_django_has_not_loaded_is_never_loaded_for_a_log_line() -> None:
    loaded: list[bool] = []

    def view(request: HttpRequest) -> HttpResponse:
        request.user = SimpleLazyObject(lambda: loaded.append(True))  # type: ignore[assignment]
        _logged("apps.users.api", "hello")
        return HttpResponse("ok")

    RequestIdMiddleware(view)(RequestFactory().get("/"))

    assert loaded == []


def test_a_task_published_while_serving_a_request_carries_its_id_to_the_worker() -> None:
    app = Celery("request-id-test", broker="memory://", set_as_current=False)
    seen: list[str | None] = []

    @app.task(name="monitoring.test_echo")
    def echo() -> None:
        seen.append(request_id_get())

    with app.connection_for_write() as connection, connection.SimpleQueue("celery") as queue:
        with request_id_bound("req-from-the-view"):
            echo.apply_async(connection=connection)  # type: ignore[call-arg]  # celery-types lacks it
        headers = queue.get(timeout=5).headers
        echo.apply(headers=headers)  # how a worker runs it: the message's headers become the task's request
    echo.apply(task_id="task-without-a-request-1")

    assert headers[TASK_HEADER] == "req-from-the-view"
    assert seen == ["req-from-the-view", "task-without-a-request-1"]
    assert request_id_get() is None  # unbound again after each task


def test_a_task_run_inline_by_its_publisher_keeps_the_publishers_id() -> None:
    app = Celery("request-id-eager", set_as_current=False)
    seen: list[str | None] = []

    @app.task(name="monitoring.test_eager")
    def echo() -> None:
        seen.append(request_id_get())

    with request_id_bound("req-eager-0001"):
        echo.apply()
        after = request_id_get()

    assert seen == ["req-eager-0001"]
    assert after == "req-eager-0001"


def test_a_real_worker_logs_a_task_under_the_request_id_of_its_publisher(tmp_path: Path) -> None:
    bus = redis_start()
    worker = worker_start(bus.url, tmp_path)
    publisher = Celery("request-id-publisher", broker=bus.url, set_as_current=False)
    try:
        with request_id_bound("req-across-processes-7"):
            publisher.send_task("monitoring.prune")  # the worker's database is not migrated: the task fails, loudly
        deadline = time.monotonic() + 30
        lines: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not lines:
            time.sleep(0.2)
            log = (tmp_path / "worker-probe.log").read_text()
            lines = [
                json.loads(line) for line in log.splitlines() if "monitoring.prune" in line and line.startswith("{")
            ]
    finally:
        publisher.close()
        worker.stop()
        bus.stop()

    [failure] = lines
    assert (failure["logger"], failure["level"], failure["request_id"]) == (
        "celery.app.trace",
        "ERROR",
        "req-across-processes-7",
    )
    assert failure["deployable"] == "monolith" and "no such table" in failure["message"]
