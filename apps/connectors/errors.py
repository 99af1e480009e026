"""The typed failures of the connectors, so callers decide by type: pause, re-queue, fail the job, or retry later.

None of these is a Django/DRF error: the registry and jobs contexts translate them into their own outcomes
(a health state, a job transition, an API error). Every error keeps the HTTP status and a short excerpt of the
remote body, because remote messages ("Parameter 'x' not found.") are what users and operators act on.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every connector failure; `message` is safe to show to the user who owns the credentials."""

    def __init__(self, message: str, *, status_code: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body


class UnsupportedProtocolError(ConnectorError):
    """The service speaks a protocol there is no automated client for (dnastack, sanger_manual, ...)."""


class UnsupportedOperationError(ConnectorError):
    """The protocol has no such call (e.g. restart on WES); the caller takes another path (resubmit)."""


class CredentialError(ConnectorError):
    """401/403: the token is invalid, expired or revoked. Pause and ask the user for a new token; never fail the job."""


class ConfigurationError(ConnectorError):
    """The remote rejected what we asked for (unknown parameter, unknown app, bad URL): retrying will not help."""


class QuotaError(ConnectorError):
    """Cloudgene's "Only N jobs per user can be executed simultaneously.": re-queue later; `limit` is N when given."""

    def __init__(
        self, message: str, *, limit: int | None = None, status_code: int | None = None, body: str = ""
    ) -> None:
        super().__init__(message, status_code=status_code, body=body)
        self.limit = limit


class InvalidStateError(ConnectorError):
    """The remote refused because of the job's state (e.g. restart of a job that is not DEAD)."""


class NotFoundError(ConnectorError):
    """404 for a job, run or file: after a few in a row the job is `lost` (protocols.md §8.2/§8.3)."""


class RemoteUnavailableError(ConnectorError):
    """5xx, 429, timeouts and network failures: transient, retry later with backoff.

    `retry_after` carries the server's Retry-After in seconds when it sent one. `outcome_unknown` is True when a
    non-idempotent call (submit) may have reached the remote before failing: reconcile before resubmitting.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: str = "",
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message, status_code=status_code, body=body)
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown


class ProtocolError(RemoteUnavailableError):
    """The remote answered, but not in the protocol's shape (HTML instead of JSON, missing fields)."""


class DownloadExhaustedError(ConnectorError):
    """A Cloudgene result file has no downloads left: only an admin reset helps, so never retry."""


class ChecksumMismatchError(ConnectorError):
    """A downloaded file does not match the checksum the remote published; the partial file was removed."""


class NotReadyError(ConnectorError):
    """DRS 202: the object is being staged; call again after `retry_after` seconds (no sleeping here)."""

    def __init__(self, message: str, *, retry_after: float | None, status_code: int | None = 202) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after
