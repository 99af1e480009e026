"""Which URLs the registry may call: http(s) only, and never the link-local range where cloud metadata lives.

Services are registered by administrators, but a registered URL is fetched by our workers: without a guard, a
base URL pointing at 169.254.169.254 would make the platform read its own cloud credentials (SSRF). Loopback
and private addresses stay allowed by default because labs run nodes on their own networks (and the embedded
reference node answers on loopback); REGISTRY_OUTBOUND_DENY_PRIVATE closes them too.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from apps.kernel.errors import ApplicationError

METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})


class OutboundUrlError(ApplicationError):
    """The URL is not one the platform will call."""


def base_url_normalize(url: str) -> str:
    """Scheme and host lower-cased, no credentials, query, fragment or trailing slash; http(s) only."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise OutboundUrlError("Only http and https URLs can be registered.", details={"base_url": ["Use http(s)://"]})
    if parts.username or parts.password:
        raise OutboundUrlError(
            "Credentials do not belong in a service URL.",
            details={"base_url": ["Remove user:password@ from the URL; tokens are stored per user."]},
        )
    if not parts.hostname:
        raise OutboundUrlError("The URL has no host.", details={"base_url": ["Give the service's host name."]})
    host = parts.hostname.lower()
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


def _refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if address in METADATA_ADDRESSES or address.is_link_local:
        if settings.REGISTRY_OUTBOUND_ALLOW_LINK_LOCAL:
            return None
        return "a link-local address (where cloud metadata services answer)"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "a multicast, unspecified or reserved address"
    if settings.REGISTRY_OUTBOUND_DENY_PRIVATE and (address.is_private or address.is_loopback):
        return "a private or loopback address (REGISTRY_OUTBOUND_DENY_PRIVATE is on)"
    return None


def outbound_url_check(url: str) -> None:
    """Refuse a URL whose host resolves to an address the platform must not call (checked before each use)."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise OutboundUrlError(f"The host {host!r} does not resolve.") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        reason = _refused(address)
        if reason:
            raise OutboundUrlError(f"The host {host!r} resolves to {address}, {reason}; the platform will not call it.")
