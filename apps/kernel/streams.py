"""Where events live in Redis: one stream per topic plus one dead-letter stream."""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=10, health_check_interval=30)


def redis_client() -> redis.Redis:
    """The process-wide client for the event bus (REDIS_URL), created on first use."""
    return _client(settings.REDIS_URL)


def stream_for(topic: str) -> str:
    return f"{settings.EVENTS_STREAM_PREFIX}{topic}"


def dead_letter_stream() -> str:
    return f"{settings.EVENTS_STREAM_PREFIX}dead-letter"
