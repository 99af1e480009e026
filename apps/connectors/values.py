"""The value types of the connectors: what the platform passes in and gets back, never protocol JSON.

Frozen dataclasses and the `Connector` protocol; `apps.connectors.base` adds `connector_for` and re-exports these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal, Protocol

CLOUDGENE: Final = "cloudgene"
WES: Final = "wes"
SUPPORTED_API_TYPES: Final = (CLOUDGENE, WES)
USER_AGENT: Final = "fip-connectors/1.0 (+federated imputation platform)"
DEFAULT_CLOUDGENE_APP: Final = "imputationserver2"

HealthStatus = Literal["healthy", "unhealthy", "timeout"]
LogLevel = Literal["info", "running", "warning", "error"]


@dataclass(frozen=True)
class Timeouts:
    """Seconds to connect and to wait for each read. Uploads have no body timeout (see `Connector.submit`)."""

    connect: float = 5.0
    read: float = 30.0


@dataclass(frozen=True)
class Retries:
    """Jittered exponential backoff for SAFE calls only (status, lists, info): `attempts` in all, within `total` s.

    Submit, cancel and restart are never retried here: their outcome after a failure is unknown, so the caller
    reconciles (`find_by_job_name`) instead. A server's Retry-After (capped at `wait_max`) replaces the backoff.
    The waits are short and bounded; a Celery task that would rather reschedule than wait passes `attempts=1`.
    """

    attempts: int = 3
    wait_initial: float = 0.5
    wait_max: float = 5.0
    total: float = 30.0


@dataclass(frozen=True)
class HealthResult:
    """One probe: `timeout` when the server did not answer within the read timeout, `unhealthy` for other problems."""

    status: HealthStatus
    response_time_ms: int | None
    message: str
    server_info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PanelInfo:
    """A reference panel as the remote advertises it. `slug` is the protocol id the remote accepts at submit.

    `build` is "" when the remote does not say (Cloudgene's app form does not expose it: see `CloudgeneConnector`).
    """

    slug: str
    name: str
    build: str
    populations: tuple[str, ...]
    description: str = ""
    samples_count: int | None = None
    variants_count: int | None = None


@dataclass(frozen=True)
class TokenCheck:
    """Whether a user's token works on the service; `expires_at` lets the UI warn before it lapses."""

    valid: bool
    message: str
    username: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class InputFile:
    """One bgzipped VCF to upload, streamed from disk. `name` is the part's filename (Cloudgene needs `*.vcf.gz`)."""

    path: Path
    name: str = ""

    @property
    def filename(self) -> str:
        return self.name or self.path.name


@dataclass(frozen=True)
class JobSubmission:
    """What the platform submits, in protocol-neutral terms.

    `job_id` is the platform's job id: Cloudgene's `job-name` and WES `tags.platform_job_id`, which is how a
    submit with an unknown outcome is reconciled. `password` is ours (generated and stored encrypted by the jobs
    context) so results are never locked to the user's e-mail. WES-only fields: `file_urls` (URLs or DRS URIs the
    node can pull; otherwise `files` are pushed as attachments), `workflow_url`/`workflow_type` (defaults come from
    the connector's app id and the node's service-info), `idempotency_key` (defaults to `job_id`).
    """

    job_id: str
    refpanel: str
    password: str
    files: tuple[InputFile, ...] = ()
    build: str = "hg19"
    population: str = "off"
    phasing: str = "eagle"
    mode: str = "imputation"
    r2_filter: float = 0.0
    aes_encryption: bool = False
    meta: bool = False
    file_urls: tuple[str, ...] = ()
    workflow_url: str = ""
    workflow_type: str = ""
    idempotency_key: str = ""
    extra_workflow_params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SubmitResult:
    """The remote accepted the job: store `remote_job_id` (Cloudgene `job-...`, WES `run_id`)."""

    remote_job_id: str
    message: str
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LogEntry:
    """One step/task message, HTML stripped. `url` points at a full log (WES stdout/stderr) when there is one."""

    source: str
    message: str
    level: LogLevel = "info"
    time: datetime | None = None
    url: str = ""


@dataclass(frozen=True)
class RemoteStatus:
    """A poll's outcome: the raw state (always a string: "4", "-1", "RUNNING") and its central mapping.

    `finished` says the remote will not move the job on its own any more (stop polling). The job record appends
    `raw_state` to its `remote_state_seen` and passes that history to the next `status` call.
    """

    remote_job_id: str
    raw_state: str
    state: str
    finished: bool
    queue_position: int | None = None
    messages: tuple[LogEntry, ...] = ()
    failure_category: str | None = None
    failure_message: str = ""
    retire_at: datetime | None = None
    restartable: bool = False
    resubmittable: bool = False

    @property
    def latest_message(self) -> str:
        return self.messages[-1].message if self.messages else ""


@dataclass(frozen=True)
class RemoteJobRef:
    """A job as a remote's job list shows it (for quota counts and reconciliation)."""

    remote_job_id: str
    raw_state: str
    name: str


@dataclass(frozen=True)
class ResultFile:
    """A downloadable result. Cloudgene: `url` is the anonymous /share/results link and `downloads_left` its counter
    (None = unlimited); `size` is parsed from the server's human string, so approximate. WES: from the run's
    `outputs`, possibly only a `drs_uri` that `download` resolves first.
    """

    name: str
    url: str
    group: str = ""
    size: int | None = None
    size_label: str = ""
    sha256: str = ""
    downloads_left: int | None = None
    drs_uri: str = ""


@dataclass(frozen=True)
class DownloadResult:
    """A result file written to `path` (atomically: a partial download never sits at `path`)."""

    path: Path
    size: int
    sha256: str
    downloads_left: int | None


@dataclass(frozen=True)
class DrsAccess:
    """A DRS object resolved to something fetchable. When `ready` is False, ask again after `retry_after` seconds."""

    ready: bool
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    size: int | None = None
    sha256: str = ""
    name: str = ""


class Connector(Protocol):
    """The calls every protocol client offers. Remote problems raise the typed errors; `health` never raises."""

    api_type: str
    base_url: str
    app_id: str

    def health(self, *, token: str | None = None) -> HealthResult: ...

    def server_info(self, *, token: str | None = None) -> dict[str, Any]: ...

    def list_panels(self, *, token: str | None = None) -> list[PanelInfo]: ...

    def verify_token(self, *, token: str) -> TokenCheck: ...

    def submit(self, submission: JobSubmission, *, token: str) -> SubmitResult: ...

    def status(
        self, remote_job_id: str, *, token: str, seen_states: Iterable[str | int] = (), already_downloaded: bool = False
    ) -> RemoteStatus: ...

    def logs(self, remote_job_id: str, *, token: str) -> list[LogEntry]: ...

    def results(self, remote_job_id: str, *, token: str, include_logs: bool = False) -> list[ResultFile]: ...

    def download(self, result: ResultFile, *, dest: Path, token: str | None = None) -> DownloadResult: ...

    def cancel(self, remote_job_id: str, *, token: str) -> RemoteStatus: ...

    def restart(self, remote_job_id: str, *, token: str) -> None: ...

    def list_jobs(self, *, token: str) -> list[RemoteJobRef]: ...

    def find_by_job_name(self, job_name: str, *, token: str) -> list[RemoteJobRef]: ...

    def resolve_drs(self, drs_uri: str, *, token: str | None = None) -> DrsAccess: ...

    def close(self) -> None: ...

    def __enter__(self) -> Connector: ...

    def __exit__(self, *exc_info: object) -> None: ...
