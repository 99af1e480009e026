"""Client for Cloudgene imputation servers (MIS 2, TOPMed TIS, AfriGen-D, Helmholtz), protocols.md §1 and §8.2.

Facts this client is built around:
- the API token goes raw in `X-Auth-Token` (no "Bearer"), and 401/403 are credential problems, never job failures;
- submit is one multipart request carrying every VCF; checkbox fields count as "on" when merely present, so
  `aesEncryption`/`meta` are sent only when true, `r2Filter` only when non-zero, and always our own `password`
  with `job-name` = the platform job id (the key for reconciling a submit whose outcome is unknown);
- cancel and restart are GETs; a cancelled job later reads 9 like a failure, hence the state history;
- result links (/share/results/<hash>/<name>) are anonymous capabilities with a download counter: no token is
  sent with them (it would follow a redirect to the storage host) and each file is fetched once.

Panels come from the app form (`GET /api/v2/server/apps/<app>`): `refpanel` values keyed `apps@<panel>@<version>`
and `population` values grouped under the same keys. The form does not carry a panel's genome build, so `build`
is read from the panel's id or label ("hg38"/"GRCh38"/"b38", TOPMed -> hg38; "hg19"/"GRCh37"/"b37" -> hg19)
and left "" when neither says; the registry lets an admin fill it in.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import httpx

from apps.connectors import states
from apps.connectors.downloads import exhausted_classifier, file_download
from apps.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    CredentialError,
    InvalidStateError,
    NotFoundError,
    ProtocolError,
    QuotaError,
    UnsupportedOperationError,
)
from apps.connectors.probe import probe
from apps.connectors.transport import BODY_EXCERPT, Part, SessionClient, remote_message, response_json
from apps.connectors.values import (
    CLOUDGENE,
    DownloadResult,
    DrsAccess,
    HealthResult,
    JobSubmission,
    LogEntry,
    LogLevel,
    PanelInfo,
    RemoteJobRef,
    RemoteStatus,
    ResultFile,
    SubmitResult,
    TokenCheck,
)

LOG_LEVELS: Final[dict[int, LogLevel]] = {0: "info", 1: "error", 2: "warning", 3: "running"}
RESULT_GROUP: Final = "output"
LOGS_GROUP: Final = "cloudgene_logs"
_QUOTA = re.compile(r"only\s+(\d+)\s+jobs?", re.IGNORECASE)
_SIZE = re.compile(r"^\s*([\d.,]+)\s*([kmgtp]?i?b|bytes?)?\s*$", re.IGNORECASE)
_SIZE_UNITS: Final = {"": 1, "b": 1, "byte": 1, "bytes": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}
_WORKFLOW_MARKER = re.compile(r"::(?:error|warning|message|notice|group[^:]*|endgroup)::", re.IGNORECASE)


class CloudgeneConnector(SessionClient):
    """One Cloudgene server; `base_url` is its root (normalized by `connector_for`)."""

    api_type = CLOUDGENE

    # -- registry calls -------------------------------------------------------------------------------------------

    def health(self, *, token: str | None = None) -> HealthResult:
        """§8.2.1: the server answers, is not in maintenance, accepts the token and offers the app."""
        outcome = probe(self.http, "/api/v2/server", headers=_auth(token))
        if outcome.result is not None:
            return outcome.result
        body, elapsed = outcome.body, outcome.response_time_ms
        if body.get("maintenace") or body.get("maintenance"):
            note = body.get("maintenaceMessage") or body.get("maintenanceMessage") or ""
            return HealthResult("unhealthy", elapsed, f"The server is in maintenance mode. {note}".strip(), body)
        apps = [_app_base(app.get("id", "")) for app in body.get("apps") or [] if isinstance(app, dict)]
        if token and not body.get("user"):
            return HealthResult("unhealthy", elapsed, "The server did not accept the API token (no user).", body)
        if apps and _app_base(self.app_id) not in apps:
            message = f"The app {self.app_id!r} is not installed or not permitted for this account."
            return HealthResult("unhealthy", elapsed, message, body)
        name = body.get("name") or "Cloudgene"
        if not token:
            return HealthResult("healthy", elapsed, f"{name} is up (apps are only listed for a signed-in token).", body)
        return HealthResult("healthy", elapsed, f"{name} is up and offers {self.app_id}.", body)

    def server_info(self, *, token: str | None = None) -> dict[str, Any]:
        response = self.http.request("GET", "/api/v2/server", operation="server info", safe=True, headers=_auth(token))
        return _json_object(response, "server info")

    def list_panels(self, *, token: str | None = None) -> list[PanelInfo]:
        """§1.8: `refpanel` values and the `population` groups bound to them, in the server's order."""
        path = f"/api/v2/server/apps/{quote(self.app_id, safe='@')}"
        response = self.http.request("GET", path, operation="list panels", safe=True, headers=_auth(token))
        form = _json_object(response, "list panels")
        params = {param.get("id"): param for param in form.get("params") or [] if isinstance(param, dict)}
        panel_values = (params.get("refpanel") or {}).get("values") or []
        population_groups = (params.get("population") or {}).get("values") or []
        if not panel_values:
            raise ProtocolError(f"The app {self.app_id!r} lists no reference panels (no `refpanel` values).")
        populations_by_key: dict[str, tuple[str, ...]] = {}
        for group in population_groups:
            if isinstance(group, dict) and isinstance(group.get("values"), list):
                keys = tuple(str(item["key"]) for item in group["values"] if isinstance(item, dict) and "key" in item)
                populations_by_key[str(group.get("key", ""))] = keys
                populations_by_key.setdefault(panel_slug(str(group.get("key", ""))), keys)
        panels = []
        for value in panel_values:
            if not isinstance(value, dict) or not value.get("key"):
                continue
            key = str(value["key"])  # the protocol id (apps@<id>@<version>), kept whole as the panel's slug
            name = str(value.get("value") or value.get("label") or panel_slug(key))
            populations = populations_by_key.get(key) or populations_by_key.get(panel_slug(key)) or ()
            panels.append(
                PanelInfo(slug=key, name=name, build=panel_build_guess(f"{key} {name}"), populations=populations)
            )
        return panels

    def verify_token(self, *, token: str) -> TokenCheck:
        """`POST /api/v2/tokens/verify` for validity and expiry; servers without it are asked `GET /api/v2/server`."""
        try:
            response = self.http.request(
                "POST",
                "/api/v2/tokens/verify",
                operation="verify token",
                safe=True,  # read-only despite the POST
                data={"token": token},
            )
        except CredentialError as exc:
            return TokenCheck(valid=False, message=exc.message)
        except (NotFoundError, ConfigurationError):
            return self._verify_by_server(token)
        body = _json_object(response, "verify token")
        if "valid" not in body:
            return self._verify_by_server(token)
        valid = bool(body.get("valid"))
        message = str(body.get("message") or ("The token is valid." if valid else "The token is not valid."))
        return TokenCheck(
            valid=valid,
            message=message,
            username=(str(body["username"]) if body.get("username") else None),
            expires_at=_datetime_from(body.get("expire") or body.get("expires")) if valid else None,
        )

    def _verify_by_server(self, token: str) -> TokenCheck:
        try:
            body = self.server_info(token=token)
        except CredentialError as exc:
            return TokenCheck(valid=False, message=exc.message)
        user = body.get("user")
        if isinstance(user, dict) and user.get("username"):
            return TokenCheck(valid=True, message="The token is accepted.", username=str(user["username"]))
        return TokenCheck(valid=False, message="The server did not accept the token (no user).")

    # -- job calls ------------------------------------------------------------------------------------------------

    def submit(self, submission: JobSubmission, *, token: str) -> SubmitResult:
        """§1.4/§8.2.3: one streamed multipart POST; never retried (reconcile with `find_by_job_name` instead)."""
        _submission_check(submission)
        path = f"/api/v2/jobs/submit/{quote(self.app_id, safe='@')}"
        with ExitStack() as stack:
            parts: list[Part] = [
                ("files", (item.filename, stack.enter_context(item.path.open("rb")), "application/gzip"))
                for item in submission.files
            ]
            parts += [(name, (None, value, None)) for name, value in submit_fields(submission)]
            response = self.http.request(
                "POST",
                path,
                operation="submit",
                safe=False,
                upload=True,
                headers=_auth(token),
                parts=parts,
                classify=_submit_error,
            )
        body = _json_object(response, "submit", outcome_unknown=True)
        if body.get("success") is False:
            raise ConfigurationError(f"submit: {body.get('message') or 'the server refused the job'}")
        remote_id = body.get("id")
        if not remote_id:
            raise ProtocolError("submit: the server accepted the upload but returned no job id.", outcome_unknown=True)
        return SubmitResult(remote_job_id=str(remote_id), message=str(body.get("message") or ""), raw=body)

    def status(
        self,
        remote_job_id: str,
        *,
        token: str,
        seen_states: Iterable[str | int] = (),
        already_downloaded: bool = False,
    ) -> RemoteStatus:
        response = self.http.request(
            "GET", f"{_job_path(remote_job_id)}/status", operation="job status", safe=True, headers=_auth(token)
        )
        info = _json_object(response, "job status")
        return job_info_status(
            info, remote_job_id=remote_job_id, seen=seen_states, already_downloaded=already_downloaded
        )

    def logs(self, remote_job_id: str, *, token: str) -> list[LogEntry]:
        return list(_step_messages(self._details(remote_job_id, token)))

    def results(self, remote_job_id: str, *, token: str, include_logs: bool = False) -> list[ResultFile]:
        """Files of every output param (`output`, QC files...); `cloudgene_logs` only when asked."""
        info = self._details(remote_job_id, token)
        files = []
        for param in info.get("outputParams") or []:
            if not isinstance(param, dict):
                continue
            group = str(param.get("id") or param.get("name") or "")
            if group == LOGS_GROUP and not include_logs:
                continue
            for item in param.get("files") or []:
                if isinstance(item, dict) and item.get("hash") and item.get("name"):
                    files.append(self._result_file(item, group))
        return files

    def download(self, result: ResultFile, *, dest: Path, token: str | None = None) -> DownloadResult:
        """Anonymous (the hash is the capability): no token goes out, so none follows a redirect to storage."""
        if not result.url:
            raise ConfigurationError(f"{result.name}: no download URL.")
        return file_download(self.http, result, url=result.url, dest=dest, classify=exhausted_classifier)

    def cancel(self, remote_job_id: str, *, token: str) -> RemoteStatus:
        """GET .../cancel; a no-op on finished jobs (the returned status tells: 4/5 means the cancel lost the race)."""
        try:
            response = self.http.request(
                "GET", f"{_job_path(remote_job_id)}/cancel", operation="cancel", safe=False, headers=_auth(token)
            )
        except NotFoundError:
            # Cloudgene 2 answers 404 once the job left the engine: read what became of it
            return self.status(remote_job_id, token=token)
        info = _json_object(response, "cancel")
        if "state" not in info:
            return self.status(remote_job_id, token=token)
        return job_info_status(info, remote_job_id=remote_job_id, seen=())

    def restart(self, remote_job_id: str, *, token: str) -> None:
        """Only a DEAD (-1) job restarts; otherwise the server's 400 "not pending" is an InvalidStateError."""
        self.http.request(
            "GET",
            f"{_job_path(remote_job_id)}/restart",
            operation="restart",
            safe=False,
            headers=_auth(token),
            classify=_restart_error,
        )

    def list_jobs(self, *, token: str) -> list[RemoteJobRef]:
        """All the token owner's jobs: no `page` parameter returns them all (Cloudgene 2: a bare array)."""
        response = self.http.request("GET", "/api/v2/jobs", operation="list jobs", safe=True, headers=_auth(token))
        body = response_json(response, "list jobs")
        rows = body.get("data") if isinstance(body, dict) else body
        if not isinstance(rows, list):
            raise ProtocolError("list jobs: the server returned neither a job page nor a job array.")
        return [
            RemoteJobRef(
                remote_job_id=str(row["id"]), raw_state=str(row.get("state", "")), name=str(row.get("name") or "")
            )
            for row in rows
            if isinstance(row, dict) and row.get("id")
        ]

    def find_by_job_name(self, job_name: str, *, token: str) -> list[RemoteJobRef]:
        """The remote jobs submitted with `job-name` = `job_name` (the server HTML-escapes names)."""
        return [job for job in self.list_jobs(token=token) if html.unescape(job.name) == job_name]

    def resolve_drs(self, drs_uri: str, *, token: str | None = None) -> DrsAccess:
        raise UnsupportedOperationError("Cloudgene servers have no DRS; results are /share/results links.")

    # -- helpers --------------------------------------------------------------------------------------------------

    def _details(self, remote_job_id: str, token: str) -> dict[str, Any]:
        response = self.http.request(
            "GET", _job_path(remote_job_id), operation="job details", safe=True, headers=_auth(token)
        )
        return _json_object(response, "job details")

    def _result_file(self, item: dict[str, Any], group: str) -> ResultFile:
        name = str(item["name"])
        count = item.get("count")
        label = str(item.get("size") or "")
        return ResultFile(
            name=name,
            url=f"{self.base_url}/share/results/{quote(str(item['hash']), safe='')}/{quote(name)}",
            group=group,
            size=size_parse(label),
            size_label=label,
            downloads_left=count if isinstance(count, int) and count >= 0 else None,
        )


def submit_fields(submission: JobSubmission) -> list[tuple[str, str]]:
    """The text fields of the submit multipart, exactly as §1.4/§8.2 ask (files are separate parts)."""
    fields = [
        ("refpanel", submission.refpanel),
        ("population", submission.population),
        ("build", submission.build),
        ("phasing", submission.phasing),
        ("mode", submission.mode),
    ]
    if submission.r2_filter:
        fields.append(("r2Filter", format(submission.r2_filter, "g")))
    if submission.aes_encryption:
        fields.append(("aesEncryption", "true"))
    if submission.meta:
        fields.append(("meta", "true"))
    fields += [("password", submission.password), ("job-name", submission.job_id)]
    return fields


def job_info_status(
    info: dict[str, Any], *, remote_job_id: str, seen: Iterable[str | int], already_downloaded: bool = False
) -> RemoteStatus:
    """A JobInfo read through §8.2's table; the failure is the last ERROR message of the steps."""
    try:
        raw = int(info["state"])
    except (KeyError, TypeError, ValueError):
        raise ProtocolError(f"job status: no numeric `state` in the JobInfo of {remote_job_id}.") from None
    messages = tuple(_step_messages(info))
    errors = [entry for entry in messages if entry.level == "error"]
    failed = errors[-1] if errors else None
    mapped = states.cloudgene_state_map(
        raw,
        seen=seen,
        already_downloaded=already_downloaded,
        failed_step=failed.source if failed else "",
        failure_message=failed.message if failed else "",
    )
    position = info.get("positionInQueue")
    deleted_on = info.get("deletedOn")
    return RemoteStatus(
        remote_job_id=str(info.get("id") or remote_job_id),
        raw_state=str(raw),
        state=mapped.state,
        finished=mapped.finished,
        queue_position=position if isinstance(position, int) and position > 0 else None,
        messages=messages,
        failure_category=mapped.failure_category,
        failure_message=mapped.failure_message,
        retire_at=_datetime_from(deleted_on) if isinstance(deleted_on, int) and deleted_on > 0 else None,
        restartable=mapped.restartable,
    )


def panel_slug(key: str) -> str:
    """`apps@topmed-r3@1.0.0` -> `topmed-r3` (the bare id the submit accepts); other keys stay as they are."""
    if key.startswith("apps@"):
        return key.split("@")[1]
    return key


def panel_build_guess(text: str) -> str:
    lowered = text.lower()
    if re.search(r"hg38|grch38|\bb38\b|topmed", lowered):
        return "hg38"
    if re.search(r"hg19|grch37|\bb37\b", lowered):
        return "hg19"
    return ""


def size_parse(label: str) -> int | None:
    """Cloudgene's human sizes ("314 MB", 1024-based) to bytes; approximate by nature, None when unreadable."""
    match = _SIZE.match(label)
    if not match:
        return None
    number = float(match.group(1).replace(",", ""))
    unit = (match.group(2) or "").lower().replace("ib", "b")
    factor = _SIZE_UNITS.get(unit)
    return int(number * factor) if factor else None


def plain_text(markup: str) -> str:
    """Step messages carry HTML (<b>, <br>, links) and Nextflow's ::error:: markers; users get the text."""
    parser = _TextParser()
    parser.feed(markup)
    parser.close()
    text = _WORKFLOW_MARKER.sub("", "".join(parser.chunks))
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p", "div", "li", "tr"):
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def _step_messages(info: dict[str, Any]) -> Iterable[LogEntry]:
    for step in info.get("steps") or []:
        if not isinstance(step, dict):
            continue
        source = str(step.get("name") or "")
        for item in step.get("logMessages") or []:
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            yield LogEntry(
                source=source,
                message=plain_text(str(item.get("message") or "")),
                level=LOG_LEVELS.get(kind if isinstance(kind, int) else 0, "info"),
                time=_datetime_from(item.get("time")),
            )


def _submission_check(submission: JobSubmission) -> None:
    """Refuse locally what the server would silently ignore or lose (§1.4): non-*.vcf.gz parts, no password."""
    if not submission.files:
        raise ConfigurationError("submit: no input files; Cloudgene takes uploaded bytes only, not URLs.")
    misnamed = [item.filename for item in submission.files if not item.filename.endswith(".vcf.gz")]
    if misnamed:
        raise ConfigurationError(f"submit: the server ignores files not named *.vcf.gz: {', '.join(misnamed)}.")
    if not submission.password:
        raise ConfigurationError("submit: a password is required, or the results are locked to the user's e-mail.")
    if not submission.job_id or not submission.refpanel:
        raise ConfigurationError("submit: job_id and refpanel are required.")


def _submit_error(response: httpx.Response, operation: str) -> ConnectorError | None:
    """§8.2.3: "Only N jobs..." is a quota to wait out; other 400s and 404 (unknown app) are configuration."""
    status = response.status_code
    message = remote_message(response)
    body = response.text[:BODY_EXCERPT]
    if status == 400 and (match := _QUOTA.search(message)):
        return QuotaError(f"{operation}: {message}", limit=int(match.group(1)), status_code=status, body=body)
    if status in (400, 404, 413):
        return ConfigurationError(f"{operation}: HTTP {status}: {message}", status_code=status, body=body)
    return None


def _restart_error(response: httpx.Response, operation: str) -> ConnectorError | None:
    if response.status_code == 400:
        message = remote_message(response)
        return InvalidStateError(f"{operation}: {message}", status_code=400, body=response.text[:BODY_EXCERPT])
    return None


def _json_object(response: httpx.Response, operation: str, *, outcome_unknown: bool = False) -> dict[str, Any]:
    try:
        body = response_json(response, operation)
    except ProtocolError as exc:
        exc.outcome_unknown = outcome_unknown
        raise
    if not isinstance(body, dict):
        raise ProtocolError(f"{operation}: expected a JSON object.", outcome_unknown=outcome_unknown)
    return body


def _auth(token: str | None) -> dict[str, str]:
    return {"X-Auth-Token": token} if token else {}


def _job_path(remote_job_id: str) -> str:
    return f"/api/v2/jobs/{quote(remote_job_id, safe='')}"


def _app_base(app_id: str) -> str:
    return str(app_id).split("@")[0]


def _datetime_from(value: Any) -> datetime | None:
    """Cloudgene timestamps are epoch ms (unset: -1 or 0); a verify expiry may also come as an ISO string."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC) if value > 0 else None
    if isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
