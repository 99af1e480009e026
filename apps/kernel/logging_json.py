"""Structured logs: one JSON object per line, each carrying who and what it is about.

Every record gets `request_id` (the request, event or Celery task being served), `user_id` (the authenticated
caller, once a view has authenticated it), `context` (the bounded context whose code logged it, from the logger's
name) and `deployable` (the process: monolith or an extracted context), so a request can be followed from the
gateway through events and tasks across processes with a plain filter on the log store.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from pythonjsonlogger.json import JsonFormatter

from apps.kernel.request_id import request_id_get, request_user_id

# field names as they appear in each line; `message` keeps its name
RENAMED = {"asctime": "timestamp", "levelname": "level", "name": "logger"}
FIELDS = ("asctime", "levelname", "name", "message", "request_id", "user_id", "context", "deployable")


def log_context_of(logger_name: str) -> str:
    """apps.jobs.tasks -> jobs; gateway.proxy -> gateway; legacy.x -> legacy; anything else -> the top package."""
    parts = logger_name.split(".")
    if parts[0] == "apps" and len(parts) > 1:
        return parts[1]
    return parts[0] or "-"


class LogContextFilter(logging.Filter):
    """Adds request_id, user_id, context and deployable to every record (kept when a caller already set them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__
        if not fields.get("request_id") or fields["request_id"] == "-":
            record.request_id = request_id_get() or "-"
        if "user_id" not in fields:
            record.user_id = request_user_id()
        if "context" not in fields:
            record.context = log_context_of(record.name)
        if "deployable" not in fields:
            record.deployable = getattr(settings, "DEPLOYABLE", "-") if settings.configured else "-"
        return True


class JsonLogFormatter(JsonFormatter):
    """python-json-logger with the platform's field names, UTC ISO-8601 timestamps and the context fields first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", list(FIELDS))
        kwargs.setdefault("rename_fields", RENAMED)
        kwargs.setdefault("timestamp", False)
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(*args, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
