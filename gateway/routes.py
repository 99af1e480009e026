"""The route table: which target serves each domain's URL prefixes, loaded from TOML, validated, hot-reloaded.

Validation names the domain and key of every mistake. Prefixes never repeat and never nest inside one
domain; across domains a nested prefix is allowed and the longest matching prefix wins. The file is
re-read when it changes (checked at most every RELOAD_CHECK_SECONDS by each process); a broken edit is
rejected, the last good table stays in force, and the error is kept for `gateway check`, the admin API
and the logs.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from gateway import metrics

logger = logging.getLogger(__name__)

DOMAINS = ("users", "registry", "jobs", "files", "notifications", "monitoring")
TARGETS = ("legacy", "app", "remote")
RELOAD_CHECK_SECONDS = 0.5

_DEFAULT_KEYS = {"connect_timeout", "read_timeout", "retries", "breaker_threshold", "breaker_reset", "eject_seconds"}
_DOMAIN_KEYS = {"prefixes", "anonymous", "target", "upstreams", "shadow", "canary"} | _DEFAULT_KEYS
_SHADOW_KEYS = {"target", "volatile", "timeout", "sample_percent"}
_CANARY_KEYS = {"target", "percent"}


class RouteTableError(ValueError):
    """The route table file is invalid; the message names the domain and key at fault."""


@dataclass(frozen=True)
class Timeouts:
    connect_timeout: float = 2.0
    read_timeout: float = 30.0
    retries: int = 1
    breaker_threshold: int = 5
    breaker_reset: float = 30.0
    eject_seconds: float = 10.0


@dataclass(frozen=True)
class Shadow:
    target: str
    volatile: frozenset[str] = frozenset()
    timeout: float = 2.0
    sample_percent: float = 100.0


@dataclass(frozen=True)
class Canary:
    target: str
    percent: float


@dataclass(frozen=True)
class Route:
    domain: str
    prefixes: tuple[str, ...]
    target: str
    upstreams: tuple[str, ...] = ()
    anonymous: tuple[str, ...] = ()
    timeouts: Timeouts = field(default_factory=Timeouts)
    shadow: Shadow | None = None
    canary: Canary | None = None

    def is_anonymous(self, path: str) -> bool:
        return any(path.startswith(prefix) for prefix in self.anonymous)


@dataclass(frozen=True)
class RateLimits:
    window_seconds: int = 60
    per_ip: int = 600
    per_user: int = 1200
    fail_open: bool = True


@dataclass(frozen=True)
class RouteTable:
    routes: tuple[Route, ...]
    rate_limits: RateLimits = field(default_factory=RateLimits)
    _by_prefix: tuple[tuple[str, Route], ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        pairs = [(prefix, route) for route in self.routes for prefix in route.prefixes]
        object.__setattr__(self, "_by_prefix", tuple(sorted(pairs, key=lambda pair: -len(pair[0]))))

    def match(self, path: str) -> Route | None:
        """The route of the longest prefix that `path` starts with."""
        for prefix, route in self._by_prefix:
            if path.startswith(prefix):
                return route
        return None

    def route(self, domain: str) -> Route:
        for route in self.routes:
            if route.domain == domain:
                return route
        raise KeyError(domain)


def _fail(where: str, message: str) -> RouteTableError:
    return RouteTableError(f"{where}: {message}")


def _check_keys(where: str, table: Any, allowed: set[str]) -> None:
    if not isinstance(table, dict):
        raise _fail(where, "must be a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _number(where: str, value: Any, *, minimum: float, maximum: float | None = None, integer: bool = False) -> Any:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise _fail(where, f"must be {'a whole number' if integer else 'a number'}, got {value!r}")
    if not math.isfinite(value) or value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum:g} and {maximum:g}" if maximum is not None else f"at least {minimum:g}"
        raise _fail(where, f"must be {bounds}, got {value!r}")
    return value


def _timeouts(where: str, table: dict[str, Any], base: Timeouts) -> Timeouts:
    values = {}
    for key in _DEFAULT_KEYS & set(table):
        integer = key in ("retries", "breaker_threshold")
        values[key] = _number(f"{where}.{key}", table[key], minimum=0 if key == "retries" else 0.001, integer=integer)
    return Timeouts(**{**base.__dict__, **values})


def _prefixes(where: str, value: Any, *, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise _fail(where, "must be a non-empty list of URL prefixes")
    for prefix in value:
        if not isinstance(prefix, str) or not prefix.startswith("/") or not prefix.endswith("/"):
            raise _fail(where, f"prefix {prefix!r} must start and end with '/'")
    return tuple(value)


def _target(where: str, value: Any) -> str:
    if value not in TARGETS:
        raise _fail(where, f"must be one of {', '.join(TARGETS)}, got {value!r}")
    return str(value)


def _upstreams(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(where, "must be a list of http(s) URLs")
    for url in value:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise _fail(where, f"{url!r} is not an http(s) URL without a query")
    return tuple(url.rstrip("/") for url in value)


def _route(domain: str, table: Any, defaults: Timeouts) -> Route:
    where = f"domains.{domain}"
    if domain not in DOMAINS:
        raise _fail(where, f"unknown domain; known: {', '.join(DOMAINS)}")
    if not isinstance(table, dict):
        raise _fail(where, "must be a table")
    _check_keys(where, table, _DOMAIN_KEYS)
    if "prefixes" not in table or "target" not in table:
        raise _fail(where, "needs `prefixes` and `target`")
    prefixes = _prefixes(f"{where}.prefixes", table["prefixes"])
    for i, prefix in enumerate(prefixes):
        for other in prefixes[i + 1 :]:
            if prefix.startswith(other) or other.startswith(prefix):
                raise _fail(f"{where}.prefixes", f"{prefix!r} and {other!r} overlap within one domain")
    target = _target(f"{where}.target", table["target"])
    shadow = canary = None
    if "shadow" in table:
        raw = table["shadow"]
        _check_keys(f"{where}.shadow", raw, _SHADOW_KEYS)
        volatile = raw.get("volatile", [])
        if not isinstance(volatile, list) or not all(isinstance(name, str) for name in volatile):
            raise _fail(f"{where}.shadow.volatile", "must be a list of field names")
        shadow = Shadow(
            target=_target(f"{where}.shadow.target", raw.get("target")),
            volatile=frozenset(volatile),
            timeout=_number(f"{where}.shadow.timeout", raw.get("timeout", 2.0), minimum=0.001),
            sample_percent=_number(
                f"{where}.shadow.sample_percent", raw.get("sample_percent", 100), minimum=0, maximum=100
            ),
        )
        if shadow.target == target:
            raise _fail(f"{where}.shadow.target", f"mirrors to {target!r}, the target itself")
    if "canary" in table:
        raw = table["canary"]
        _check_keys(f"{where}.canary", raw, _CANARY_KEYS)
        canary = Canary(
            target=_target(f"{where}.canary.target", raw.get("target")),
            percent=_number(f"{where}.canary.percent", raw.get("percent"), minimum=0, maximum=100),
        )
        if canary.target == target:
            raise _fail(f"{where}.canary.target", f"sends the canary to {target!r}, the target itself")
    anonymous = _prefixes(f"{where}.anonymous", table.get("anonymous", []), allow_empty=True)
    for prefix in anonymous:
        if not any(prefix.startswith(own) for own in prefixes):
            raise _fail(f"{where}.anonymous", f"{prefix!r} lies outside the domain's prefixes")
    upstreams = _upstreams(f"{where}.upstreams", table.get("upstreams", []))
    uses_remote = "remote" in (target, shadow and shadow.target, canary and canary.target)
    if uses_remote and not upstreams:
        raise _fail(f"{where}.upstreams", "a remote target needs at least one upstream URL")
    return Route(
        domain=domain,
        prefixes=prefixes,
        target=target,
        upstreams=upstreams,
        anonymous=anonymous,
        timeouts=_timeouts(where, table, defaults),
        shadow=shadow,
        canary=canary,
    )


def route_table_parse(data: dict[str, Any]) -> RouteTable:
    _check_keys("(top level)", data, {"defaults", "rate_limits", "domains"})
    defaults_table = data.get("defaults", {})
    _check_keys("defaults", defaults_table, _DEFAULT_KEYS)
    defaults = _timeouts("defaults", defaults_table, Timeouts())
    limits_table = data.get("rate_limits", {})
    _check_keys("rate_limits", limits_table, {"window_seconds", "per_ip", "per_user", "fail_open"})
    if not isinstance(limits_table.get("fail_open", True), bool):
        raise _fail("rate_limits.fail_open", "must be true or false")
    limits = RateLimits(
        **{
            key: _number(f"rate_limits.{key}", limits_table[key], minimum=1, integer=True)
            for key in ("window_seconds", "per_ip", "per_user")
            if key in limits_table
        },
        fail_open=limits_table.get("fail_open", True),
    )
    domains = data.get("domains", {})
    if not isinstance(domains, dict) or not domains:
        raise _fail("domains", "must be a table with at least one domain")
    routes = tuple(_route(domain, table, defaults) for domain, table in domains.items())
    owner: dict[str, str] = {}
    for route in routes:
        for prefix in route.prefixes:
            if prefix in owner:
                raise _fail(f"domains.{route.domain}.prefixes", f"{prefix!r} is already routed to {owner[prefix]!r}")
            owner[prefix] = route.domain
    return RouteTable(routes=routes, rate_limits=limits)


def route_table_load(path: Path) -> RouteTable:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise RouteTableError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RouteTableError(f"{path}: not valid TOML: {exc}") from exc
    return route_table_parse(data)


@dataclass
class _Holder:
    path: Path
    table: RouteTable
    signature: tuple[int, int, int]
    checked_at: float
    error: str | None = None
    loaded_at: float = field(default_factory=time.time)


_lock = threading.Lock()
_holder: _Holder | None = None


def routes_path() -> Path:
    return Path(settings.GATEWAY_ROUTES_FILE)


def _signature(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def route_table() -> RouteTable:
    """The table in force in this process, re-read when the file has changed."""
    global _holder
    holder = _holder
    now = time.monotonic()
    if holder is not None and holder.path == routes_path() and now - holder.checked_at < RELOAD_CHECK_SECONDS:
        return holder.table
    with _lock:
        holder = _holder
        path = routes_path()
        if holder is None or holder.path != path:
            _holder = _Holder(path=path, table=route_table_load(path), signature=_signature(path), checked_at=now)
            return _holder.table
        holder.checked_at = now
        try:
            signature = _signature(path)
        except OSError as exc:
            holder.error = f"{path}: cannot read: {exc.strerror}"
            return holder.table
        if signature != holder.signature:
            holder.signature = signature
            try:
                holder.table = route_table_load(path)
            except RouteTableError as exc:
                holder.error = str(exc)
                metrics.ROUTE_RELOAD_ERRORS.inc()
                logger.error("route table change rejected, keeping the last good table: %s", exc)
            else:
                holder.error = None
                holder.loaded_at = time.time()
                logger.info("route table reloaded from %s", path)
        return holder.table


def route_table_status() -> dict[str, Any]:
    """What `gateway routes` and the admin API report about the file: path, when loaded, last rejected edit."""
    route_table()
    holder = _holder
    assert holder is not None
    return {"path": str(holder.path), "loaded_at": holder.loaded_at, "error": holder.error}


def route_table_reset() -> None:
    """Forget the loaded table (tests point GATEWAY_ROUTES_FILE elsewhere)."""
    global _holder
    with _lock:
        _holder = None
