"""Operate the gateway: show the route table in force, flip a domain's target, check the file, read shadow diffs.

    manage.py gateway routes [--no-probe]
    manage.py gateway flip <domain> <target> [--by NAME] [--file PATH]
    manage.py gateway check [--file PATH] [--no-probe]
    manage.py gateway diffs [--limit N] [--json]

`flip` edits the TOML in place keeping its comments and layout, refuses an edit the route table would reject,
replaces the file atomically (every process picks it up within 2 s) and appends an audit line.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import logging
import os
import tempfile
import tomllib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis
import tomlkit
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tomlkit.exceptions import TOMLKitError

from gateway.api import ops_redis, routes_report
from gateway.routes import TARGETS, Route, RouteTableError, route_table_load, route_table_parse, routes_path
from gateway.shadow import diffs_key

audit_logger = logging.getLogger("gateway.audit")

PROBE_TIMEOUT = 1.0


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str


def _probe(client: httpx.Client, upstream: str) -> Health:
    try:
        response = client.get(f"{upstream}/healthz")
    except httpx.TransportError as exc:
        return Health(False, f"unreachable ({type(exc).__name__})")
    if response.status_code == 200:
        return Health(True, "ok")
    return Health(False, f"HTTP {response.status_code}")


def upstream_health(upstreams: Iterable[str]) -> dict[str, Health]:
    """GET <upstream>/healthz for each upstream, in parallel, with a 1 s timeout each."""
    urls = sorted(set(upstreams))
    if not urls:
        return {}
    with (
        httpx.Client(timeout=PROBE_TIMEOUT, trust_env=False, follow_redirects=False) as client,
        ThreadPoolExecutor(max_workers=min(8, len(urls))) as pool,
    ):
        return dict(zip(urls, pool.map(lambda url: _probe(client, url), urls), strict=True))


def _uses_remote(route: Route) -> bool:
    return "remote" in (route.target, route.shadow and route.shadow.target, route.canary and route.canary.target)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return f"uid:{os.getuid()}"


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """Serialise flips of files in one directory (the file itself is replaced, so it cannot carry the lock)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _replace_atomically(path: Path, text: str) -> None:
    """Write `text` next to `path` and rename it over `path`: readers see the old file or the new, never half."""
    mode = path.stat().st_mode & 0o777
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def audit_path() -> Path:
    return Path(settings.VAR_DIR) / "gateway" / "audit.log"


class Command(BaseCommand):
    help = "Operate the gateway: routes, flip, check, diffs."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        routes = sub.add_parser("routes", help="the route table in force, with upstream health and breaker state")
        routes.add_argument("--no-probe", action="store_true", help="do not probe the upstreams' /healthz")
        flip = sub.add_parser("flip", help="point a domain at another target (atomic edit of the routes file)")
        flip.add_argument("domain")
        flip.add_argument("target", help=" | ".join(TARGETS))
        flip.add_argument("--by", help="who flips, for the audit log (default: the login name)")
        flip.add_argument("--file", help="the routes file (default: GATEWAY_ROUTES_FILE)")
        check = sub.add_parser("check", help="validate the routes file and probe the upstreams remote targets use")
        check.add_argument("--file", help="the routes file (default: GATEWAY_ROUTES_FILE)")
        check.add_argument("--no-probe", action="store_true", help="only validate the file")
        diffs = sub.add_parser("diffs", help="the last shadow diffs, newest first")
        diffs.add_argument("--limit", type=int, default=20)
        diffs.add_argument("--json", action="store_true", help="print the raw JSON records")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "routes":
            self._routes(probe=not options["no_probe"])
        elif action == "flip":
            path = Path(options["file"] or routes_path())
            self._flip(path, options["domain"], options["target"], by=options["by"] or _operator())
        elif action == "check":
            self._check(Path(options["file"] or routes_path()), probe=not options["no_probe"])
        else:
            self._diffs(limit=options["limit"], raw=options["json"])

    # --- routes ----------------------------------------------------------------------------------------

    def _routes(self, *, probe: bool) -> None:
        try:
            report = routes_report()
        except RouteTableError as exc:
            raise CommandError(f"the route table cannot be loaded: {exc}") from exc
        file = report["file"]
        self.stdout.write(f"Route table {file['path']} (loaded {file['loaded_at']})")
        self.stdout.write(f"Last rejected edit: {file['error'] or 'none'}")
        upstreams = [upstream["url"] for route in report["routes"] for upstream in route["upstreams"]]
        health = upstream_health(upstreams) if probe else {}
        header = ("DOMAIN", "TARGET", "CANARY", "SHADOW", "PREFIXES")
        rows = [
            (
                route["domain"],
                route["target"],
                f"{route['canary']['target']} {route['canary']['percent']:g}%" if route["canary"] else "-",
                f"{route['shadow']['target']} {route['shadow']['sample_percent']:g}%" if route["shadow"] else "-",
                " ".join(route["prefixes"]),
            )
            for route in report["routes"]
        ]
        widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header) - 1)]

        def line(row: tuple[str, ...]) -> str:
            return "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])

        self.stdout.write("")
        self.stdout.write(line(header))
        for route, row in zip(report["routes"], rows, strict=True):
            self.stdout.write(line(row))
            for upstream in route["upstreams"]:
                state = health[upstream["url"]].detail if upstream["url"] in health else "not probed"
                self.stdout.write(f"    upstream {upstream['url']}  health: {state}  breaker: {upstream['breaker']}")

    # --- flip ------------------------------------------------------------------------------------------

    def _flip(self, path: Path, domain: str, target: str, *, by: str) -> None:
        if target not in TARGETS:
            raise CommandError(
                f"domains.{domain}.target: {target!r} is not a target; choose one of {', '.join(TARGETS)}"
            )
        with _directory_lock(path.parent):
            try:
                document = tomlkit.parse(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise CommandError(f"{path}: cannot read: {exc.strerror}") from exc
            except TOMLKitError as exc:
                raise CommandError(f"{path}: not valid TOML: {exc}") from exc
            domains = document.get("domains")
            if not isinstance(domains, dict) or domain not in domains:
                known = ", ".join(sorted(domains)) if isinstance(domains, dict) else "none"
                raise CommandError(f"domains.{domain}: no such domain in {path} (routed domains: {known})")
            if not isinstance(domains[domain], dict):
                raise CommandError(f"domains.{domain}: must be a table in {path}")
            previous = domains[domain].get("target")
            if previous == target:
                self.stdout.write(f"{domain} is already served by {target}; {path} is unchanged.")
                return
            domains[domain]["target"] = target
            text = tomlkit.dumps(document)
            try:
                route_table_parse(tomllib.loads(text))  # exactly what will be on disk
            except (RouteTableError, tomllib.TOMLDecodeError) as exc:
                raise CommandError(f"refusing to flip {domain} to {target}, the table would be invalid: {exc}") from exc
            entry = {
                "at": datetime.now(tz=UTC).isoformat(),
                "by": by,
                "os_user": getpass.getuser(),
                "domain": domain,
                "from": previous,
                "to": target,
                "file": str(path),
            }
            line = json.dumps(entry)
            audit = audit_path()
            try:  # audited before it takes effect: a flip that cannot be audited does not happen
                audit.parent.mkdir(parents=True, exist_ok=True)
                with audit.open("a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as exc:
                raise CommandError(f"{audit} could not be written, so {domain} was not flipped: {exc}") from exc
            _replace_atomically(path, text)
        audit_logger.info("route flip %s", line)
        self.stdout.write(f"{domain}: {previous} -> {target} in {path} (in force within 2 s); audited in {audit}")

    # --- check -----------------------------------------------------------------------------------------

    def _check(self, path: Path, *, probe: bool) -> None:
        try:
            table = route_table_load(path)
        except RouteTableError as exc:
            message = str(exc)
            raise CommandError(message if message.startswith(str(path)) else f"{path}: {message}") from exc
        self.stdout.write(f"{path}: valid ({len(table.routes)} domains)")
        if not probe:
            return
        remote = [route for route in table.routes if _uses_remote(route)]
        health = upstream_health(url for route in remote for url in route.upstreams)
        failing = []
        for route in remote:
            for url in route.upstreams:
                self.stdout.write(f"{route.domain}: upstream {url}  health: {health[url].detail}")
                if not health[url].ok:
                    failing.append(f"{route.domain} {url} ({health[url].detail})")
        if failing:
            raise CommandError(f"{len(failing)} upstream(s) not healthy: " + "; ".join(failing))
        if not remote:
            self.stdout.write("no domain uses a remote target; nothing to probe")

    # --- diffs -----------------------------------------------------------------------------------------

    def _diffs(self, *, limit: int, raw: bool) -> None:
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        try:
            lines: list[str] = ops_redis().lrange(diffs_key(), 0, limit - 1)
        except (redis.RedisError, OSError) as exc:
            raise CommandError(f"Redis at {settings.REDIS_URL} is unavailable: {exc}") from exc
        if not lines:
            self.stdout.write("No shadow diffs recorded.")
            return
        for line in lines:
            if raw:
                self.stdout.write(line)
                continue
            try:
                diff = json.loads(line)
                self.stdout.write(
                    f"{diff['at']}  {diff['domain']}  {diff['method']} {diff['path']}  "
                    f"{diff['primary_target']}->{diff['shadow_target']}  "
                    f"status {diff['status'][0]}/{diff['status'][1]}  "
                    f"differs at {', '.join(diff['differences']) or '(status only)'}  request {diff['request_id']}"
                )
            except (ValueError, KeyError, IndexError, TypeError):
                self.stdout.write(line)
