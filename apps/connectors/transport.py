"""HTTP plumbing shared by the protocol clients: one httpx client, timeouts, User-Agent, typed errors, safe retries.

Every remote failure leaves here as an `apps.connectors.errors` type, so the clients never handle httpx
exceptions themselves. Only calls marked `safe` are retried (stamina: jittered exponential backoff, bounded in
attempts and total time, Retry-After honoured); the backoff sleeps are short and bounded, and nothing here waits
for a remote job to progress: that is the caller's scheduling.
"""

from __future__ import annotations

import email.utils
import functools
import json
import re
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Self

import httpx
import stamina

from apps.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    CredentialError,
    NotFoundError,
    ProtocolError,
    RemoteUnavailableError,
)
from apps.connectors.values import USER_AGENT, Retries, Timeouts

BODY_EXCERPT = 500
Classifier = Callable[[httpx.Response, str], ConnectorError | None]
Params = Mapping[str, str | int]
# multipart parts: (field name, (filename or None for a plain field, content, content type or None))
Part = tuple[str, tuple[str | None, Any, str | None]]


def remote_message(response: httpx.Response) -> str:
    """The remote's own words: Cloudgene `message`, WES `msg`, or the plain-text body (Cloudgene's submit 400s)."""
    text = response.text.strip()
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "msg", "detail", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    if text and not text.lstrip().startswith("<"):
        return text[:BODY_EXCERPT]
    return response.reason_phrase or f"HTTP {response.status_code}"


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    value = str(response.headers.get("Retry-After", "")).strip()
    if not value:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds: float = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds)


def error_for_response(response: httpx.Response, operation: str, *, unsafe: bool = False) -> ConnectorError:
    """The generic status mapping; protocol clients refine 400/404 with their own classifier first."""
    status = response.status_code
    message = remote_message(response)
    body = response.text[:BODY_EXCERPT]
    what = f"{operation}: HTTP {status}: {message}"
    if status in (401, 403):
        return CredentialError(
            f"The service rejected the credentials ({what}). Ask the user for a new API token.",
            status_code=status,
            body=body,
        )
    if status == 404:
        return NotFoundError(f"Not found ({what}).", status_code=status, body=body)
    if 300 <= status < 400:
        where = response.headers.get("Location", "elsewhere")
        return ConfigurationError(
            f"The service redirected {operation} to {where}: correct the service's base URL.", status_code=status
        )
    if status in (408, 429) or status >= 500:
        return RemoteUnavailableError(
            f"The service is unavailable ({what}).",
            status_code=status,
            body=body,
            retry_after=retry_after_seconds(response),
            outcome_unknown=unsafe and status not in (429, 503),
        )
    return ConfigurationError(f"The service rejected the request ({what}).", status_code=status, body=body)


def error_for_transport(exc: httpx.TransportError, operation: str, *, unsafe: bool = False) -> RemoteUnavailableError:
    """Network failures are transient; for an unsafe call only a failure to connect proves nothing was sent."""
    never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    if isinstance(exc, httpx.TimeoutException):
        message = f"{operation}: the service did not answer in time ({type(exc).__name__})."
    else:
        message = f"{operation}: the connection to the service failed ({type(exc).__name__}: {exc or 'no detail'})."
    return RemoteUnavailableError(message, outcome_unknown=unsafe and not never_sent)


def response_json(response: httpx.Response, operation: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProtocolError(
            f"{operation}: the service answered HTTP {response.status_code} with a body that is not JSON.",
            status_code=response.status_code,
            body=response.text[:BODY_EXCERPT],
        ) from None


def _retry_hook(retries: Retries, *, network_only: bool) -> Callable[[Exception], bool | float]:
    def hook(exc: Exception) -> bool | float:
        if not isinstance(exc, RemoteUnavailableError) or isinstance(exc, ProtocolError):
            return False
        if network_only and exc.status_code is not None:
            return False
        if exc.retry_after is not None:
            return min(exc.retry_after, retries.wait_max)
        return True

    return hook


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Loading the CA bundle costs tens of ms; one context serves every client (connectors are made per task)."""
    return httpx.create_ssl_context()


class HttpSession:
    """One service's base URL, timeouts and pooled connections. Paths starting with "/" are joined to the base."""

    def __init__(self, *, base_url: str, timeouts: Timeouts, retries: Retries) -> None:
        self.base_url = base_url
        self.timeouts = timeouts
        self.retries = retries
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=self.timeout(),
                headers={"User-Agent": USER_AGENT},
                follow_redirects=False,
                verify=_tls_context(),
            )
        return self._client

    def timeout(self, *, upload: bool = False) -> httpx.Timeout:
        """An upload's body has no write timeout: a large VCF on a slow link is not a failure."""
        write = None if upload else self.timeouts.read
        return httpx.Timeout(
            connect=self.timeouts.connect, read=self.timeouts.read, write=write, pool=self.timeouts.connect
        )

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return self.base_url + path_or_url

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        safe: bool,
        headers: Mapping[str, str] | None = None,
        params: Params | None = None,
        data: Mapping[str, str] | None = None,
        parts: Sequence[Part] | None = None,
        classify: Classifier | None = None,
        upload: bool = False,
    ) -> httpx.Response:
        """Send once (or with retries when `safe`) and return a 2xx response (DRS 202 included), or the typed error."""

        def once() -> httpx.Response:
            try:
                response = self.client.request(
                    method,
                    self.url(path),
                    headers=headers,
                    params=params,
                    data=data,
                    files=list(parts) if parts else None,
                    timeout=self.timeout(upload=upload),
                )
            except httpx.TransportError as exc:
                raise error_for_transport(exc, operation, unsafe=not safe) from exc
            if response.is_success:
                return response
            error = classify(response, operation) if classify else None
            raise error or error_for_response(response, operation, unsafe=not safe)

        if not safe:
            return once()
        for attempt in self.retrying():
            with attempt:
                return once()
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

    def retrying(self, *, attempts: int | None = None, network_only: bool = False) -> Iterator[stamina.Attempt]:
        """stamina attempts for a safe call; a download passes its downloads left, retries dropped links only."""
        policy = self.retries
        return iter(
            stamina.retry_context(
                on=_retry_hook(policy, network_only=network_only),
                attempts=attempts or policy.attempts,
                timeout=policy.total,
                wait_initial=policy.wait_initial,
                wait_max=policy.wait_max,
                wait_jitter=policy.wait_initial,
            )
        )

    @contextmanager
    def stream(self, url: str, *, operation: str, headers: Mapping[str, str] | None = None) -> Iterator[httpx.Response]:
        """A streamed GET that follows redirects (presigned URLs), for downloads; errors as in `request`.

        httpx drops Authorization on a redirect to another origin, so a bearer token never reaches a storage host.
        """
        try:
            with self.client.stream("GET", self.url(url), headers=headers, follow_redirects=True) as response:
                yield response
        except httpx.TransportError as exc:
            raise error_for_transport(exc, operation) from exc


class SessionClient:
    """What every protocol client shares: one HTTP session to one service, released when the client is closed."""

    def __init__(self, *, base_url: str, app_id: str, timeouts: Timeouts, retries: Retries) -> None:
        self.base_url = base_url
        self.app_id = app_id
        self.http = HttpSession(base_url=base_url, timeouts=timeouts, retries=retries)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()
