"""Where contract tests send their requests: the in-process app (through the gateway middleware) or a real server.

A contract test talks to a `Target` only, so the same test runs against every target the gateway can route a
domain to: today the in-process app and the extracted deployable behind a real gateway, later legacy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from django.test import Client


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str]  # names in lower case


def _decoded(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except ValueError:
        return content.decode(errors="replace")


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names in lower case, whichever client produced them."""
    return {name.lower(): value for name, value in headers.items()}


def _headers(token: str | None, headers: Mapping[str, str] | None) -> dict[str, str]:
    result = dict(headers or {})
    if token:
        result["Authorization"] = f"Bearer {token}"
    return result


class Target:
    """Sends one request to wherever this target serves the API; `call` is all a contract test uses."""

    name: str

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        return self.send(method, path, body, _headers(token, headers))

    def send(self, method: str, path: str, body: Any, headers: dict[str, str]) -> Reply:
        raise NotImplementedError


class InProcessTarget(Target):
    """Django's test client: the request runs through the whole middleware stack in this process."""

    name = "app"

    def __init__(self) -> None:
        self.client = Client()

    def send(self, method: str, path: str, body: Any, headers: dict[str, str]) -> Reply:
        data = json.dumps(body) if body is not None else ""
        response = self.client.generic(method, path, data, content_type="application/json", headers=headers)
        return Reply(status=response.status_code, body=_decoded(response.content), headers=_lowered(response.headers))


class HttpTarget(Target):
    """A real server on loopback, reached over HTTP."""

    def __init__(self, name: str, base_url: str) -> None:
        self.name = name
        self.client = httpx.Client(base_url=base_url, timeout=30)

    def send(self, method: str, path: str, body: Any, headers: dict[str, str]) -> Reply:
        response = self.client.request(method, path, json=body, headers=headers)
        return Reply(status=response.status_code, body=_decoded(response.content), headers=_lowered(response.headers))
