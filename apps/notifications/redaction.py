"""A log filter that hides access tokens in WebSocket URLs (`/ws/notifications/?token=...`), which the ASGI
server logs when it accepts a socket. Imported by the logging configuration, before the apps are loaded, so it
imports nothing of Django's."""

from __future__ import annotations

import logging
import re

TOKEN = re.compile(r"((?:^|[?&])token=)[^&\s\"']+")


def _redact(value: object) -> object:
    return TOKEN.sub(r"\1[redacted]", value) if isinstance(value, str) else value


class QueryTokenFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(arg) for arg in record.args)
        return True
