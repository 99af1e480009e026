"""`connector_for`: the one client interface the platform has per imputation protocol, with its value types.

The registry context uses `health`, `server_info`, `list_panels` and `verify_token`; the jobs context uses the
job calls. Both see only these dataclasses and the errors of `apps.connectors.errors`, never protocol JSON, so a
Cloudgene server and a GA4GH WES node are interchangeable behind `Connector`.

Base URLs are normalized once (`base_url_normalize`), and the registry should store the normalized form:
- Cloudgene: the server root. A trailing `/api/v2` (or `/api/v2/`) is removed, because every Cloudgene path
  (`/api/v2/...`, `/share/results/...`) is relative to the root; an install under a sub-path keeps its prefix.
- WES: the API base, `.../ga4gh/wes/v1`. A trailing `/service-info` is removed (GA4GH convention); a bare host
  gets the standard `/ga4gh/wes/v1` appended; any other path is taken as the operator's custom mount point.
In both cases trailing slashes go, so a path is never doubled however the admin typed the URL.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from apps.connectors.cloudgene import CloudgeneConnector
from apps.connectors.errors import ConfigurationError, UnsupportedProtocolError
from apps.connectors.values import (
    CLOUDGENE,
    DEFAULT_CLOUDGENE_APP,
    SUPPORTED_API_TYPES,
    USER_AGENT,
    WES,
    Connector,
    DownloadResult,
    DrsAccess,
    HealthResult,
    HealthStatus,
    InputFile,
    JobSubmission,
    LogEntry,
    LogLevel,
    PanelInfo,
    RemoteJobRef,
    RemoteStatus,
    ResultFile,
    Retries,
    SubmitResult,
    Timeouts,
    TokenCheck,
)
from apps.connectors.wes import WesConnector

__all__ = [
    "CLOUDGENE",
    "DEFAULT_CLOUDGENE_APP",
    "SUPPORTED_API_TYPES",
    "USER_AGENT",
    "WES",
    "Connector",
    "DownloadResult",
    "DrsAccess",
    "HealthResult",
    "HealthStatus",
    "InputFile",
    "JobSubmission",
    "LogEntry",
    "LogLevel",
    "PanelInfo",
    "RemoteJobRef",
    "RemoteStatus",
    "ResultFile",
    "Retries",
    "SubmitResult",
    "Timeouts",
    "TokenCheck",
    "base_url_normalize",
    "connector_for",
]


def base_url_normalize(*, api_type: str, base_url: str) -> str:
    """The one stored form of a service's base URL (rules in the module docstring); rejects non-http(s) URLs."""
    if api_type not in SUPPORTED_API_TYPES:
        raise UnsupportedProtocolError(_unsupported_message(api_type))
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"The base URL must be an absolute http(s) URL, not {base_url!r}.")
    path = parts.path.rstrip("/")
    if api_type == CLOUDGENE:
        path = _strip_suffix(path, "/api/v2")
    else:
        path = _strip_suffix(path, "/service-info")
        if not path:
            path = "/ga4gh/wes/v1"
    return urlunsplit((parts.scheme, parts.netloc.lower(), path.rstrip("/"), "", ""))


def connector_for(
    *,
    api_type: str,
    base_url: str,
    app_id: str = "",
    timeouts: Timeouts | None = None,
    retries: Retries | None = None,
) -> Connector:
    """The client for one registered service. `app_id`: the Cloudgene app (default imputationserver2) or, for WES,
    the node-registered workflow URL to run. Close it (or use it as a context manager) to release connections.
    """
    if api_type not in SUPPORTED_API_TYPES:
        raise UnsupportedProtocolError(_unsupported_message(api_type))
    normalized = base_url_normalize(api_type=api_type, base_url=base_url)
    if api_type == CLOUDGENE:
        return CloudgeneConnector(
            base_url=normalized,
            app_id=app_id or DEFAULT_CLOUDGENE_APP,
            timeouts=timeouts or Timeouts(),
            retries=retries or Retries(),
        )
    return WesConnector(
        base_url=normalized, app_id=app_id, timeouts=timeouts or Timeouts(), retries=retries or Retries()
    )


def _unsupported_message(api_type: str) -> str:
    supported = ", ".join(SUPPORTED_API_TYPES)
    if api_type == "sanger_manual":
        return "The Sanger Imputation Service has no job API: jobs are exported and submitted by hand."
    return f"No automated connector for api_type {api_type!r}; supported: {supported}."


def _strip_suffix(path: str, suffix: str) -> str:
    return path[: -len(suffix)] if path.endswith(suffix) else path
