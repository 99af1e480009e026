"""Request ids: accepted from the caller when well-formed, otherwise minted, and carried into logs, events and
Celery tasks (a task published while serving a request runs under that request's id; one published with none runs
under its own task id)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar, Token
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from celery.signals import before_task_publish, task_postrun, task_prerun
from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject, empty

REQUEST_ID_HEADER = "X-Request-ID"
_VALID = re.compile(r"^[A-Za-z0-9._\-]{8,128}$")
TASK_HEADER = "request_id"  # the Celery message header that carries the publisher's request id
_current: ContextVar[str | None] = ContextVar("request_id", default=None)
_request: ContextVar[HttpRequest | None] = ContextVar("request", default=None)


def request_id_get() -> str | None:
    """The id of the request (or task) being served in this context, if any."""
    return _current.get()


@contextmanager
def request_id_bound(request_id: str | None) -> Iterator[None]:
    """Serve a request or handle an event under this id (logs and recorded events carry it)."""
    token = _current.set(request_id)
    try:
        yield
    finally:
        _current.reset(token)


def request_id_accept(candidate: str | None) -> str:
    """Keep a caller's id only if it is safe to echo into headers and logs; mint one otherwise."""
    if candidate and _VALID.match(candidate):
        return candidate
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Binds the request id for the request's duration and returns it on every response."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _bind(self, request: HttpRequest) -> str:
        request_id = request_id_accept(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]
        return request_id

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        request_id = self._bind(request)
        with request_id_bound(request_id), _request_bound(request):
            response = self.get_response(request)
        assert isinstance(response, HttpResponseBase)
        response[REQUEST_ID_HEADER] = request_id
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        request_id = self._bind(request)
        with request_id_bound(request_id), _request_bound(request):
            response = await self.get_response(request)  # type: ignore[misc]
        response[REQUEST_ID_HEADER] = request_id
        return response


@contextmanager
def _request_bound(request: HttpRequest) -> Iterator[None]:
    token = _request.set(request)
    try:
        yield
    finally:
        _request.reset(token)


def request_user_id() -> int | None:
    """The authenticated caller of the request being served, once something has authenticated it (DRF sets
    `request.user` on the Django request when a view authenticates). Never triggers a lookup itself: a session
    user Django has not loaded yet counts as unknown, so a log line cannot cause a database query."""
    request = _request.get()
    user = None if request is None else request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = user._wrapped  # type: ignore[attr-defined]  # unevaluated lazy user: `empty`
    if user is None or user is empty or not getattr(user, "is_authenticated", False):
        return None
    try:
        return int(user.pk)
    except (TypeError, ValueError):
        return None


class RequestIdLogFilter(logging.Filter):
    """Adds `request_id` to every log record so one request can be followed across processes."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or "-"
        return True


# --- Celery: the id travels in a message header and is bound while the task runs ---------------------------------
_task_tokens: dict[str, Token[str | None]] = {}


@before_task_publish.connect(weak=False)
def _task_stamp(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = _current.get()
    if headers is not None and request_id and TASK_HEADER not in headers:
        headers[TASK_HEADER] = request_id


@task_prerun.connect(weak=False)
def _task_bind(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    # a worker merges the message's headers into the request; `apply(headers=...)` keeps them under `headers`
    request = task.request if task is not None else None
    incoming = None if request is None else request.get(TASK_HEADER) or (request.get("headers") or {}).get(TASK_HEADER)
    # an eager task (run inline by its publisher) keeps the id already bound; a worker's task gets the header's
    request_id = incoming if isinstance(incoming, str) and _VALID.match(incoming) else (_current.get() or task_id)
    if task_id:
        _task_tokens[task_id] = _current.set(request_id)


@task_postrun.connect(weak=False)
def _task_unbind(task_id: str | None = None, **_: Any) -> None:
    token = _task_tokens.pop(task_id, None) if task_id else None
    if token is not None:
        with suppress(ValueError):  # bound in another context (a pool that moved the task): nothing to undo here
            _current.reset(token)
