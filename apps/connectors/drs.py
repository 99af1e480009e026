"""GA4GH DRS 1.x resolution of result files (protocols.md §4): object -> access method -> fetchable URL.

A 202 with Retry-After means "being staged, ask again": the answer goes back to the caller as `DrsAccess(ready=False,
retry_after=...)` instead of sleeping here, since these calls run inside Celery tasks that reschedule themselves.
`drs://host/id` becomes `<scheme>://host/ga4gh/drs/v1/objects/id`, where the scheme is the WES base URL's when
the host is the node's own (so a plain-http test node works) and https otherwise. Compact identifiers
(`drs://prefix:accession`) need a resolver service and are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from apps.connectors.errors import ConfigurationError, ProtocolError
from apps.connectors.transport import HttpSession, response_json, retry_after_seconds
from apps.connectors.values import DrsAccess

DRS_PATH = "/ga4gh/drs/v1/objects/"
_FETCHABLE = ("https", "http")


def drs_object_url(drs_uri: str, *, base_url: str) -> str:
    """The HTTP address of a DRS object; http(s) object URLs pass through."""
    parts = urlsplit(drs_uri)
    if parts.scheme in _FETCHABLE:
        return drs_uri
    if parts.scheme != "drs" or not parts.netloc or not parts.path.strip("/"):
        raise ConfigurationError(f"Not a resolvable DRS URI (drs://host/id): {drs_uri!r}.")
    base = urlsplit(base_url)
    scheme = base.scheme if parts.netloc == base.netloc else "https"
    return f"{scheme}://{parts.netloc}{DRS_PATH}{quote(parts.path.strip('/'), safe='')}"


def drs_access_resolve(
    session: HttpSession, drs_uri: str, *, headers_for: Callable[[str], dict[str, str]]
) -> DrsAccess:
    """Resolve to a URL + headers; `headers_for(url)` decides which URLs may carry the node's bearer token."""
    object_url = drs_object_url(drs_uri, base_url=session.base_url)
    response = session.request("GET", object_url, operation="DRS object", safe=True, headers=headers_for(object_url))
    if response.status_code == 202:
        return DrsAccess(ready=False, retry_after=retry_after_seconds(response))
    drs_object = response_json(response, "DRS object")
    if not isinstance(drs_object, dict):
        raise ProtocolError("DRS object: expected a JSON object.")
    size = drs_object.get("size")
    details: dict[str, Any] = {
        "size": size if isinstance(size, int) else None,
        "sha256": _sha256_of(drs_object),
        "name": str(drs_object.get("name") or ""),
    }
    methods = [item for item in drs_object.get("access_methods") or [] if isinstance(item, dict)]
    for method in methods:
        access_url = method.get("access_url")
        if isinstance(access_url, dict) and urlsplit(str(access_url.get("url", ""))).scheme in _FETCHABLE:
            return DrsAccess(
                ready=True, url=str(access_url["url"]), headers=_headers(access_url.get("headers")), **details
            )
    for method in methods:
        if method.get("access_id"):
            access_path = f"{object_url}/access/{quote(str(method['access_id']), safe='')}"
            answer = session.request(
                "GET", access_path, operation="DRS access", safe=True, headers=headers_for(access_path)
            )
            if answer.status_code == 202:
                return DrsAccess(ready=False, retry_after=retry_after_seconds(answer), **details)
            access_url = response_json(answer, "DRS access")
            if not isinstance(access_url, dict) or not access_url.get("url"):
                raise ProtocolError("DRS access: the answer has no `url`.")
            return DrsAccess(
                ready=True, url=str(access_url["url"]), headers=_headers(access_url.get("headers")), **details
            )
    raise ConfigurationError(f"DRS object {drs_uri} offers no http(s) access method.")


def _headers(raw: Any) -> dict[str, str]:
    """DRS lists headers as "Name: value" strings; some servers send an object."""
    if isinstance(raw, dict):
        return {str(key): str(value) for key, value in raw.items()}
    headers = {}
    for line in raw or []:
        if isinstance(line, str) and ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip()] = value.strip()
    return headers


def _sha256_of(drs_object: dict[str, Any]) -> str:
    for checksum in drs_object.get("checksums") or []:
        if isinstance(checksum, dict) and str(checksum.get("type", "")).lower().replace("-", "") == "sha256":
            return str(checksum.get("checksum") or "").lower()
    return ""


def same_origin(url: str, base_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)
