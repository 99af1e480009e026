"""Pulling a run's input VCFs by URL (WES `workflow_params.files`): http(s) only, streamed to disk, size-capped.

The pipeline calls `url_fetch` before validating its inputs. Whatever goes wrong becomes a `FetchError` whose text a
user can act on; it names the URL without its query string, which may carry a signature.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings

CHUNK = 1024 * 1024
TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=10.0)
SCHEMES = ("http", "https")


class FetchError(Exception):
    """An input URL could not be downloaded; the message says why."""


def url_shown(url: str) -> str:
    """The URL as messages show it: no credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return urlunsplit((parts.scheme, f"{host}:{parts.port}" if parts.port else host, parts.path, "", ""))


def url_fetch(url: str, target: Path) -> Path:
    """Download `url` to `target` in 1 MiB chunks through `<target>.part`, never past NODE_PULL_LIMIT_MB."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise FetchError(f"{url_shown(url)}: only http and https URLs can be pulled.")
    limit = settings.NODE_PULL_LIMIT_MB * 1024 * 1024
    partial = target.with_name(target.name + ".part")
    try:
        with (
            httpx.Client(
                timeout=TIMEOUT,
                follow_redirects=True,
                max_redirects=5,
                event_hooks={"request": [lambda request: _host_check(request.url.host)]},  # every hop, redirects too
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise FetchError(f"{url_shown(url)}: HTTP {response.status_code} {response.reason_phrase}.")
            if int(response.headers.get("Content-Length") or 0) > limit:
                raise FetchError(_too_large(url))
            received = 0
            with partial.open("wb") as out:
                for chunk in response.iter_bytes(CHUNK):
                    received += len(chunk)
                    if received > limit:
                        raise FetchError(_too_large(url))
                    out.write(chunk)
    except httpx.HTTPError as exc:
        partial.unlink(missing_ok=True)
        raise FetchError(f"{url_shown(url)}: {type(exc).__name__}: {exc or 'no detail'}.") from exc
    except FetchError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return target


def _too_large(url: str) -> str:
    return f"{url_shown(url)}: larger than this node's limit of {settings.NODE_PULL_LIMIT_MB} MB."


def _host_check(host: str) -> None:
    """Never the link-local range, where cloud metadata services answer (a URL is the submitter's choice)."""
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise FetchError(f"{host}: the host name does not resolve.") from exc
    addresses = {ipaddress.ip_address(str(entry[4][0]).split("%")[0]) for entry in found}
    refused = sorted(str(item) for item in addresses if item.is_link_local or item.is_multicast or item.is_unspecified)
    if refused:
        raise FetchError(f"{host} resolves to {', '.join(refused)}, an address this node does not fetch from.")


def pull_names(urls: list[str]) -> list[str]:
    """The input file name of each URL: its `*.vcf.gz` name (numbered where two share one), else `input.vcf.gz`.

    The same list always gives the same names, so a restarted job overwrites what it pulled before.
    """
    names = []
    for url in urls:
        base = PurePosixPath(urlsplit(url).path).name
        base = base if base.endswith(".vcf.gz") and base.strip(".") else "input.vcf.gz"
        names.append("".join(char if char.isalnum() or char in "._-" else "_" for char in base))
    return [f"{index}-{name}" if names.count(name) > 1 else name for index, name in enumerate(names, start=1)]
