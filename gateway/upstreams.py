"""Which upstream of a remote route gets the next attempt, and which are out of play for now.

Each gateway process judges upstreams for itself, from what its own requests saw: no shared state on the
hot path, nothing to configure beyond the route table. Three mechanisms, cheapest first:

- round-robin over the route's upstreams, so load spreads without any feedback;
- passive ejection: an upstream that refused or timed out a *connection* is skipped for `eject_seconds`,
  so the next requests do not pay for the same failure;
- a circuit breaker per upstream (purgatory, in memory) that counts connect errors, timeouts and
  502/503/504 answers (never a 4xx: that is the caller's mistake) and, once `breaker_threshold` of them
  follow each other, keeps requests away for `breaker_reset` seconds before letting them probe again.

Breaker changes move the BREAKER_OPEN gauge and are written, best effort, to the Redis hash
`<GATEWAY_REDIS_PREFIX>breakers` so the ops CLI in another process can show them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis
from django.conf import settings
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OPENED, OpenedState
from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker

from gateway import metrics
from gateway.routes import Route

logger = logging.getLogger(__name__)

HALF_OPEN_PENDING = "half-opened"  # what an open breaker past its reset time becomes on the next request


class BreakerOpen(Exception):
    """The upstream's breaker is open: the attempt was refused before anything was sent."""


@dataclass
class _Breaker:
    breaker: AsyncCircuitBreaker
    changed_at: float
    failures: int = 0  # in a row; purgatory forgets its count once the breaker opens, the ops view should not

    @property
    def state(self) -> str:
        return self.breaker.context.state


@dataclass
class _State:
    factory: AsyncCircuitBreakerFactory
    breakers: dict[tuple[str, str], _Breaker]
    ejected_until: dict[tuple[str, str], float]
    turns: dict[str, itertools.count[int]]


def _fresh_state() -> _State:
    # a cancelled attempt (the client went away) must not count as the upstream's failure
    factory = AsyncCircuitBreakerFactory(exclude=[asyncio.CancelledError])
    return _State(factory=factory, breakers={}, ejected_until={}, turns={})


_state = _fresh_state()
_redis_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


def upstreams_reset() -> None:
    """Forget every breaker, ejection and round-robin position (tests start each case from scratch)."""
    global _state
    _state = _fresh_state()


def rotation(route: Route) -> list[str]:
    """The route's upstreams starting from the next one in round-robin order."""
    if not route.upstreams:
        return []
    turn = next(_state.turns.setdefault(route.domain, itertools.count()))
    start = turn % len(route.upstreams)
    return [*route.upstreams[start:], *route.upstreams[:start]]


def _open_until(key: tuple[str, str]) -> float:
    """Wall-clock time at which the breaker lets a probe through; 0 when it is not open."""
    entry = _state.breakers.get(key)
    context = entry.breaker.context if entry else None
    if context is None or context.state != OPENED or context.opened_at is None:
        return 0.0
    return context.opened_at + context.ttl


def ejected(route: Route, url: str) -> bool:
    return _state.ejected_until.get((route.domain, url), 0.0) > time.monotonic()


def breaker_open(route: Route, url: str) -> bool:
    return _open_until((route.domain, url)) >= time.time()


def eject(route: Route, url: str) -> None:
    """Skip `url` for this route's next `eject_seconds`: it just failed to accept a connection."""
    _state.ejected_until[(route.domain, url)] = time.monotonic() + route.timeouts.eject_seconds


def retry_after(route: Route) -> int:
    """Whole seconds until the first of the route's upstreams is back in play (at least 1)."""
    now_wall, now_mono = time.time(), time.monotonic()
    waits = [
        max(
            _state.ejected_until.get((route.domain, url), 0.0) - now_mono,
            _open_until((route.domain, url)) - now_wall,
            0.0,
        )
        for url in route.upstreams
    ]
    return max(1, math.ceil(min(waits, default=1.0)))


def breaker_states() -> dict[tuple[str, str], str]:
    """(domain, upstream) -> closed | opened | half-opened, as this process sees it (the admin API shows it)."""
    states = {}
    for key, entry in _state.breakers.items():
        state = entry.state
        if state == OPENED and _open_until(key) < time.time():
            state = HALF_OPEN_PENDING
        states[key] = state
    return states


async def _breaker(route: Route, url: str) -> _Breaker:
    key = (route.domain, url)
    entry = _state.breakers.get(key)
    if entry is None:
        created = await _state.factory.get_breaker(f"{route.domain} {url}")
        entry = _state.breakers.setdefault(key, _Breaker(breaker=created, changed_at=time.time()))
    # follow the route table in force (it is hot-reloaded)
    entry.breaker.context.threshold = route.timeouts.breaker_threshold
    entry.breaker.context.ttl = route.timeouts.breaker_reset
    return entry


@asynccontextmanager
async def guarded(route: Route, url: str) -> AsyncIterator[None]:
    """One attempt on `url` under its breaker: any exception raised inside counts as a failure.

    Raises BreakerOpen, before the body runs, while the breaker is open.
    """
    entry = await _breaker(route, url)
    before = (entry.state, entry.failures)
    try:
        async with entry.breaker:
            yield
    except OpenedState as exc:
        exc.__traceback__ = None  # purgatory raises the same instance each time; don't let tracebacks pile up
        raise BreakerOpen(f"{route.domain} {url}") from None
    except Exception:
        entry.failures += 1
        raise
    except asyncio.CancelledError:
        entry.failures = 0  # purgatory, told to exclude it, counts a cancelled attempt as a success
        raise
    else:
        entry.failures = 0
    finally:
        if (entry.state, entry.failures) != before:
            if entry.state != before[0]:
                entry.changed_at = time.time()
            await _publish(route.domain, url, entry)


def _redis() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _redis_clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.25, socket_connect_timeout=0.25)
        _redis_clients[loop] = client
    return client


def breakers_key() -> str:
    return f"{settings.GATEWAY_REDIS_PREFIX}breakers"


async def _publish(domain: str, url: str, entry: _Breaker) -> None:
    metrics.BREAKER_OPEN.labels(domain, url).set(1 if entry.state == OPENED else 0)
    if entry.state == OPENED:
        logger.warning("circuit breaker of %s %s opened after %d failures", domain, url, entry.failures)
    value = {"state": entry.state, "failures": entry.failures, "changed_at": entry.changed_at}
    try:
        await _redis().hset(breakers_key(), f"{domain} {url}", json.dumps(value))
    except (aioredis.RedisError, OSError) as exc:
        logger.debug("breaker state of %s %s not written to Redis: %s", domain, url, exc)
