"""Edge concerns of the gateway: who is calling (RS256 access JWT, verified with the public key only) and
whether they are over their rate limit (fixed windows in Redis, per user when authenticated, per client
address otherwise).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
import redis.asyncio as aioredis
from django.conf import settings
from django.http import HttpResponseBase

from gateway.routes import RateLimits, Route

logger = logging.getLogger(__name__)

USER_ID_CLAIM = "user_id"


class EdgeAuthError(Exception):
    """The caller must (re)authenticate; the message says why and goes into the 401 envelope."""


@dataclass(frozen=True)
class Identity:
    user_id: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    token: str | None = None


ANONYMOUS = Identity()


def _claims(token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.SIMPLE_JWT["VERIFYING_KEY"],
            algorithms=["RS256"],
            options={"require": ["exp", "token_type", USER_ID_CLAIM]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise EdgeAuthError("The access token has expired; refresh it.") from exc
    except jwt.PyJWTError as exc:
        raise EdgeAuthError("The access token is invalid.") from exc
    if claims["token_type"] != "access":  # noqa: S105 (a claim value, not a secret)
        raise EdgeAuthError("Only an access token is accepted here.")
    return claims


def edge_authenticate(authorization: str, route: Route, path: str) -> Identity:
    """A present token (the Authorization header's value) must be valid everywhere; a missing one is fine only on
    the route's anonymous prefixes."""
    if not authorization:
        if route.is_anonymous(path):  # CORS preflights never get here: CorsMiddleware answers them
            return ANONYMOUS
        raise EdgeAuthError("Authentication credentials were not provided.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise EdgeAuthError("Send the access token as 'Authorization: Bearer <token>'.")
    claims = _claims(token.strip())
    return Identity(user_id=str(claims[USER_ID_CLAIM]), claims=claims, token=token.strip())


@dataclass(frozen=True)
class RateLimitDecision:
    allowed: bool
    limit: int | None = None
    remaining: int | None = None
    reset_seconds: int | None = None
    status: int = 429  # 503 when Redis is down and the limits fail closed

    def apply_headers(self, response: HttpResponseBase) -> None:
        if self.limit is None:
            return
        response["X-RateLimit-Limit"] = str(self.limit)
        response["X-RateLimit-Remaining"] = str(self.remaining)
        response["X-RateLimit-Reset"] = str(self.reset_seconds)
        if not self.allowed:
            response["Retry-After"] = str(self.reset_seconds)


UNLIMITED = RateLimitDecision(allowed=True)
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aioredis.Redis]] = weakref.WeakKeyDictionary()
_last_warning = 0.0
_redis_down_until: dict[str, float] = {}  # per Redis URL
# the window's count, and its expiry (set every time, so a key that lost it gets it back), in one command with one
# reply: a MULTI/EXEC pipeline of INCR and EXPIRE is four replies, each parsed on the event loop every request waits
# for. Needs EVAL (scripting) on the Redis server; without it every count fails like a Redis that is down.
COUNT_SCRIPT = "local n = redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], ARGV[1]) return n"
REDIS_RETRY_SECONDS = 5.0  # after a failure, skip Redis this long instead of waiting on it per request


def _client() -> aioredis.Redis:
    """One async Redis client per event loop (the server runs one loop per process)."""
    by_url = _clients.setdefault(asyncio.get_running_loop(), {})
    if settings.REDIS_URL not in by_url:
        by_url[settings.REDIS_URL] = aioredis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5
        )
    return by_url[settings.REDIS_URL]


def _redis_down(limits: RateLimits, exc: Exception | None) -> RateLimitDecision:
    global _last_warning
    if exc is not None:
        _redis_down_until[settings.REDIS_URL] = time.monotonic() + REDIS_RETRY_SECONDS
        if time.monotonic() - _last_warning > 10:  # one warning per 10 s, not one per request
            _last_warning = time.monotonic()
            action = "serving" if limits.fail_open else "refusing"
            logger.warning("rate limiting unavailable (%s: %s); %s", type(exc).__name__, exc, action)
    return UNLIMITED if limits.fail_open else RateLimitDecision(allowed=False, status=503)


async def rate_limit_check(*, identity: Identity, client_ip: str, limits: RateLimits) -> RateLimitDecision:
    now = time.time()
    window = int(now // limits.window_seconds)
    if identity.user_id:
        key, limit = f"{settings.GATEWAY_REDIS_PREFIX}rl:user:{identity.user_id}:{window}", limits.per_user
    else:
        key, limit = f"{settings.GATEWAY_REDIS_PREFIX}rl:ip:{client_ip}:{window}", limits.per_ip
    if time.monotonic() < _redis_down_until.get(settings.REDIS_URL, 0.0):
        return _redis_down(limits, None)
    try:
        count = int(await _client().eval(COUNT_SCRIPT, 1, key, limits.window_seconds + 1))
    except (aioredis.RedisError, OSError) as exc:
        return _redis_down(limits, exc)
    reset = max(1, int(limits.window_seconds - now % limits.window_seconds))
    return RateLimitDecision(allowed=count <= limit, limit=limit, remaining=max(0, limit - count), reset_seconds=reset)
