"""The health probe shared by the clients: one GET, no retries, every remote problem turned into a HealthResult.

No retries so that a hanging server is reported as `timeout` within the read timeout, and the registry's
concurrent checks are never held up by one slow service.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from apps.connectors.transport import HttpSession, remote_message
from apps.connectors.values import HealthResult


@dataclass(frozen=True)
class ProbeOutcome:
    """Either a final `result` (the probe failed) or the JSON object `body` for the protocol's own checks."""

    result: HealthResult | None
    body: dict[str, Any] = field(default_factory=dict)
    response_time_ms: int | None = None


def probe(session: HttpSession, path: str, *, headers: dict[str, str]) -> ProbeOutcome:
    started = time.monotonic()
    try:
        response = session.client.get(session.url(path), headers=headers, timeout=session.timeout())
    except httpx.TimeoutException as exc:
        limit = session.timeouts.connect if isinstance(exc, httpx.ConnectTimeout) else session.timeouts.read
        phase = "connect" if isinstance(exc, httpx.ConnectTimeout) else "answer"
        return ProbeOutcome(HealthResult("timeout", None, f"No {phase} within {limit:g} s ({type(exc).__name__})."))
    except httpx.HTTPError as exc:
        return ProbeOutcome(
            HealthResult("unhealthy", None, f"Unreachable: {type(exc).__name__}: {exc or 'no detail'}.")
        )
    elapsed = int((time.monotonic() - started) * 1000)
    if response.status_code in (401, 403):
        message = f"The service rejected the credentials (HTTP {response.status_code}): {remote_message(response)}"
        return ProbeOutcome(HealthResult("unhealthy", elapsed, message))
    if not response.is_success:
        message = f"HTTP {response.status_code}: {remote_message(response)}"
        return ProbeOutcome(HealthResult("unhealthy", elapsed, message))
    try:
        body = response.json()
    except ValueError:
        return ProbeOutcome(HealthResult("unhealthy", elapsed, "The service answered with a body that is not JSON."))
    if not isinstance(body, dict):
        return ProbeOutcome(HealthResult("unhealthy", elapsed, "The service answered with JSON that is not an object."))
    return ProbeOutcome(None, body, elapsed)
