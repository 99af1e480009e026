"""Client for GA4GH WES 1.0/1.1 imputation nodes (eLwazi, ILIFU, FedImpute-style), protocols.md §2, §3 and §8.3.

Conventions this client settles where the specs leave room (the reference node implements the same ones):
- Workflow: `workflow_url` is the submission's, else the connector's `app_id` (the registry stores the node's
  registered imputation workflow there), else service-info `tags.workflow_url`. `workflow_type` is the
  submission's if the node offers it, else NEXTFLOW when offered (imputationserver2 is a Nextflow pipeline),
  else the first advertised type; its version is the last one listed.
- `workflow_params`: imputationserver2's own inputs: `project` (the platform job id), `files` (URLs/DRS URIs
  when the node can pull them, per `supported_filesystem_protocols`, else the names of the `workflow_attachment`
  parts), `output`, `refpanel`, `build`, `mode`, `password`, `allele_frequency_population`, `phasing.engine`,
  and only when set `imputation.min_r2`, `encryption.aes`, `meta`. Nested keys are JSON objects.
- `tags`: `{"platform_job_id", "idempotency_key"}`; reconciliation matches `platform_job_id`.
- Panels: service-info has no panel field, so nodes list them in an extension member `reference_panels`
  (an array of `{id, name, build, populations: [id | {id, name}], description, samples, variants}`), or, where
  only the standard members are allowed, the same array JSON-encoded in `tags.reference_panels`.
- Outputs: `RunLog.outputs = {"results": [{name, url | drs_uri, size, sha256}], "qc_report": {...}, ...}`:
  every member holding such objects (or URL strings) is a group of result files.
Starter-kit quirks survived: cancel answers an empty body (the status is read back instead), `GET /runs` without
pagination (no `next_page_token` ends the listing), attachments ignored (nothing to detect at submit time).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Final
from urllib.parse import quote, urljoin, urlsplit

import httpx

from apps.connectors import states
from apps.connectors.downloads import file_download
from apps.connectors.drs import drs_access_resolve, same_origin
from apps.connectors.errors import (
    ConfigurationError,
    ConnectorError,
    CredentialError,
    NotReadyError,
    ProtocolError,
    QuotaError,
    UnsupportedOperationError,
)
from apps.connectors.probe import probe
from apps.connectors.transport import Part, SessionClient, response_json
from apps.connectors.values import (
    WES,
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

PAGE_SIZE: Final = 100
MAX_PAGES: Final = 1000
LOG_TAIL_BYTES: Final = 64 * 1024
REQUIRED_SERVICE_FIELDS: Final = ("id", "name", "type", "organization", "version")
_FAILED_STATES: Final = frozenset({"EXECUTOR_ERROR", "SYSTEM_ERROR", "PREEMPTED"})
_URL_SCHEMES: Final = ("http", "https", "drs")


class WesConnector(SessionClient):
    """One WES node; `base_url` is its API base (`.../ga4gh/wes/v1`, normalized by `connector_for`)."""

    api_type = WES

    # -- registry calls -------------------------------------------------------------------------------------------

    def health(self, *, token: str | None = None) -> HealthResult:
        """§8.3.1: service-info has the required Service fields, `type.artifact == "wes"` and workflow types."""
        outcome = probe(self.http, "/service-info", headers=_auth(token))
        if outcome.result is not None:
            return outcome.result
        info, elapsed = outcome.body, outcome.response_time_ms
        missing = service_info_problems(info)
        if missing:
            return HealthResult(
                "unhealthy", elapsed, f"service-info lacks required fields: {', '.join(missing)}.", info
            )
        artifact = info["type"].get("artifact")
        if artifact != "wes":
            return HealthResult("unhealthy", elapsed, f"Not a WES service (type.artifact is {artifact!r}).", info)
        if not _workflow_types(info):
            return HealthResult("unhealthy", elapsed, "service-info advertises no workflow_type_versions.", info)
        return HealthResult(
            "healthy", elapsed, f"{info['name']} {info['version']} (WES {info['type'].get('version')}).", info
        )

    def server_info(self, *, token: str | None = None) -> dict[str, Any]:
        response = self.http.request("GET", "/service-info", operation="service-info", safe=True, headers=_auth(token))
        return _json_object(response, "service-info")

    def list_panels(self, *, token: str | None = None) -> list[PanelInfo]:
        """Panels from service-info `reference_panels` (or `tags.reference_panels`), see the module docstring."""
        info = self.server_info(token=token)
        raw = info.get("reference_panels")
        if raw is None:
            tagged = (info.get("tags") or {}).get("reference_panels")
            try:
                raw = json.loads(tagged) if isinstance(tagged, str) else tagged
            except ValueError:
                raise ProtocolError("service-info: tags.reference_panels is not valid JSON.") from None
        if not isinstance(raw, list):
            raise ProtocolError("service-info lists no reference panels (`reference_panels`).")
        return [panel for item in raw if isinstance(item, dict) and (panel := _panel_from(item))]

    def verify_token(self, *, token: str) -> TokenCheck:
        """A bearer call that needs auth (`GET /runs?page_size=1`); identity and expiry are read from the JWT."""
        try:
            self.http.request(
                "GET", "/runs", operation="verify token", safe=True, headers=_auth(token), params={"page_size": 1}
            )
        except CredentialError as exc:
            return TokenCheck(valid=False, message=exc.message)
        claims = jwt_claims_unverified(token)
        expires = claims.get("exp")
        username = claims.get("preferred_username") or claims.get("email") or claims.get("sub")
        return TokenCheck(
            valid=True,
            message="The node accepted the token.",
            username=str(username) if username else None,
            expires_at=datetime.fromtimestamp(expires, tz=UTC) if isinstance(expires, int | float) else None,
        )

    # -- job calls ------------------------------------------------------------------------------------------------

    def submit(self, submission: JobSubmission, *, token: str) -> SubmitResult:
        """§2.1/§8.3.2: POST /runs as multipart (every field a string, objects JSON-encoded). Never retried."""
        if not submission.job_id or not submission.password:
            raise ConfigurationError("submit: job_id and password are required.")
        info = self.server_info(token=token)
        workflow_type, workflow_version = workflow_type_pick(info, preferred=submission.workflow_type)
        workflow_url = submission.workflow_url or self.app_id or str((info.get("tags") or {}).get("workflow_url") or "")
        if not workflow_url:
            raise ConfigurationError(
                "submit: no workflow_url (set the service's app id to the node's imputation workflow)."
            )
        pull = _can_pull(submission, info)
        if not pull and not submission.files:
            raise ConfigurationError("submit: the node cannot pull these URLs and there are no files to push.")
        fields = {
            "workflow_params": json.dumps(workflow_params(submission, pull=pull), sort_keys=True),
            "workflow_type": workflow_type,
            "workflow_type_version": workflow_version,
            "workflow_url": workflow_url,
            "tags": json.dumps(
                {
                    "platform_job_id": submission.job_id,
                    "idempotency_key": submission.idempotency_key or submission.job_id,
                },
                sort_keys=True,
            ),
        }
        engine = _engine_pick(info)
        if engine:
            fields["workflow_engine"], fields["workflow_engine_version"] = engine
        with ExitStack() as stack:
            parts: list[Part] = [(name, (None, value, None)) for name, value in fields.items()]
            if not pull:
                parts += [
                    (
                        "workflow_attachment",
                        (item.filename, stack.enter_context(item.path.open("rb")), "application/gzip"),
                    )
                    for item in submission.files
                ]
            response = self.http.request(
                "POST",
                "/runs",
                operation="submit",
                safe=False,
                upload=True,
                headers=_auth(token),
                parts=parts,
                classify=_submit_error,
            )
        body = response_json(response, "submit")
        if not isinstance(body, dict) or not body.get("run_id"):
            raise ProtocolError("submit: the node accepted the run but returned no run_id.", outcome_unknown=True)
        return SubmitResult(remote_job_id=str(body["run_id"]), message="", raw=body)

    def status(
        self,
        remote_job_id: str,
        *,
        token: str,
        seen_states: Iterable[str | int] = (),
        already_downloaded: bool = False,
    ) -> RemoteStatus:
        """The fast `/status` path; on a failure the RunLog and task logs are read once for the reason."""
        response = self.http.request(
            "GET", f"{_run_path(remote_job_id)}/status", operation="run status", safe=True, headers=_auth(token)
        )
        body = _json_object(response, "run status")
        raw = str(body.get("state") or "UNKNOWN").upper()
        step, message = ("", "")
        if raw in _FAILED_STATES:
            step, message = self._failure_detail(remote_job_id, token, executor_error=raw == "EXECUTOR_ERROR")
        mapped = states.wes_state_map(raw, seen=seen_states, failed_step=step, failure_message=message)
        return RemoteStatus(
            remote_job_id=str(body.get("run_id") or remote_job_id),
            raw_state=raw,
            state=mapped.state,
            finished=mapped.finished,
            failure_category=mapped.failure_category,
            failure_message=mapped.failure_message,
            resubmittable=mapped.resubmittable,
        )

    def logs(self, remote_job_id: str, *, token: str) -> list[LogEntry]:
        """The run's log and every task's (paginated `/tasks` in 1.1, inline `task_logs` in 1.0)."""
        run = self._run_log(remote_job_id, token)
        entries = list(_log_entries(run.get("run_log") or {}, default_name="run"))
        for task in self._task_logs(run, remote_job_id, token):
            entries += _log_entries(task, default_name=str(task.get("id") or "task"))
        return entries

    def results(self, remote_job_id: str, *, token: str, include_logs: bool = False) -> list[ResultFile]:
        outputs = self._run_log(remote_job_id, token).get("outputs") or {}
        if not isinstance(outputs, dict):
            raise ProtocolError("run log: `outputs` is not an object.")
        return [
            item
            for group, value in outputs.items()
            if include_logs or group != "logs"
            for item in _output_files(group, value)
        ]

    def download(self, result: ResultFile, *, dest: Path, token: str | None = None) -> DownloadResult:
        """A URL result directly (bearer only to the node's own origin), a DRS-only result after resolving it."""
        url, headers, sha256 = result.url, {}, result.sha256
        if not url and result.drs_uri:
            access = self.resolve_drs(result.drs_uri, token=token)
            if not access.ready:
                raise NotReadyError(f"{result.name}: the DRS object is being staged.", retry_after=access.retry_after)
            url, headers, sha256 = access.url, dict(access.headers), sha256 or access.sha256
        if not url:
            raise ConfigurationError(f"{result.name}: neither a URL nor a DRS URI to download from.")
        if not headers:
            headers = self._auth_for(url, token)
        return file_download(self.http, result, url=url, dest=dest, headers=headers, sha256=sha256)

    def cancel(self, remote_job_id: str, *, token: str) -> RemoteStatus:
        """POST .../cancel, then the status as it now stands. A node that ignores cancel (the starter kit) keeps
        reporting RUNNING: the jobs context then marks the job cancelled locally after its timeout (§8.3.5).
        """
        self.http.request(
            "POST", f"{_run_path(remote_job_id)}/cancel", operation="cancel", safe=False, headers=_auth(token)
        )
        return self.status(remote_job_id, token=token)

    def restart(self, remote_job_id: str, *, token: str) -> None:
        raise UnsupportedOperationError("WES has no restart; resubmit the job instead.")

    def list_jobs(self, *, token: str) -> list[RemoteJobRef]:
        return [
            RemoteJobRef(
                remote_job_id=str(run["run_id"]),
                raw_state=str(run.get("state") or "UNKNOWN"),
                name=str(_tags_of(run.get("tags")).get("platform_job_id", "")),
            )
            for run in self._pages("/runs", token=token, item_key="runs", operation="list runs")
            if run.get("run_id")
        ]

    def find_by_job_name(self, job_name: str, *, token: str) -> list[RemoteJobRef]:
        """Runs tagged `platform_job_id` = `job_name`; 1.0 summaries carry no tags, so their RunLog is read."""
        matches = []
        for run in self._pages("/runs", token=token, item_key="runs", operation="list runs"):
            run_id = str(run.get("run_id") or "")
            if not run_id:
                continue
            tags = _tags_of(run.get("tags")) if "tags" in run else None
            if tags is None:
                request = self._run_log(run_id, token).get("request") or {}
                tags = _tags_of(request.get("tags") if isinstance(request, dict) else None)
            if tags.get("platform_job_id") == job_name:
                matches.append(
                    RemoteJobRef(remote_job_id=run_id, raw_state=str(run.get("state") or "UNKNOWN"), name=job_name)
                )
        return matches

    def resolve_drs(self, drs_uri: str, *, token: str | None = None) -> DrsAccess:
        return drs_access_resolve(self.http, drs_uri, headers_for=lambda url: self._auth_for(url, token))

    # -- helpers --------------------------------------------------------------------------------------------------

    def _auth_for(self, url: str, token: str | None) -> dict[str, str]:
        """The node's token goes to the node's own origin only, never to a storage or third-party host."""
        return _auth(token) if same_origin(self.http.url(url), self.base_url) else {}

    def _run_log(self, run_id: str, token: str) -> dict[str, Any]:
        response = self.http.request("GET", _run_path(run_id), operation="run log", safe=True, headers=_auth(token))
        return _json_object(response, "run log")

    def _task_logs(self, run: dict[str, Any], run_id: str, token: str) -> list[dict[str, Any]]:
        inline = run.get("task_logs")
        if isinstance(inline, list) and inline:
            return [task for task in inline if isinstance(task, dict)]
        tasks_url = run.get("task_logs_url")
        path = urljoin(self.base_url + "/", str(tasks_url)) if tasks_url else f"{_run_path(run_id)}/tasks"
        try:
            return self._pages(path, token=token, item_key="task_logs", operation="task logs")
        except ConnectorError as exc:
            if exc.status_code in (404, 405, 501):  # a WES 1.0 node has no /tasks
                return []
            raise

    def _pages(self, path: str, *, token: str, item_key: str, operation: str) -> list[dict[str, Any]]:
        """Follow `next_page_token` until "" (or absent: servers without pagination); a repeated token ends it too."""
        items: list[dict[str, Any]] = []
        page_token, seen_tokens = "", set()
        for _ in range(MAX_PAGES):
            params: dict[str, str | int] = {"page_size": PAGE_SIZE}
            if page_token:
                params["page_token"] = page_token
            response = self.http.request(
                "GET", path, operation=operation, safe=True, headers=self._auth_for(path, token), params=params
            )
            body = _json_object(response, operation)
            batch = body.get(item_key) or []
            if not isinstance(batch, list):
                raise ProtocolError(f"{operation}: `{item_key}` is not a list.")
            items += [item for item in batch if isinstance(item, dict)]
            page_token = str(body.get("next_page_token") or "")
            if not page_token or page_token in seen_tokens:
                break
            seen_tokens.add(page_token)
        return items

    def _failure_detail(self, run_id: str, token: str, *, executor_error: bool) -> tuple[str, str]:
        """The failed task's name and last log line (system_logs, else the tail of its stderr); best effort.

        Only an executor error falls back to "exited with code N": for system errors the state says more.
        """
        try:
            run = self._run_log(run_id, token)
            tasks = self._task_logs(run, run_id, token)
        except CredentialError:
            raise
        except ConnectorError:
            return "", ""
        failing = [task for task in tasks if task.get("exit_code") not in (None, 0)]
        log = failing[-1] if failing else (run.get("run_log") or {})
        name = str(log.get("name") or "")
        message = _last_line(log.get("system_logs")) or self._stderr_tail(log.get("stderr"), token)
        if not message and executor_error and log.get("exit_code") not in (None, 0):
            message = f"{name or 'the workflow'} exited with code {log.get('exit_code')}."
        return name, message

    def _stderr_tail(self, url: Any, token: str) -> str:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            return ""
        tail = b""
        try:
            with self.http.stream(url, operation="stderr", headers=self._auth_for(url, token)) as response:
                if not response.is_success:
                    return ""
                for chunk in response.iter_bytes():
                    tail = (tail + chunk)[-LOG_TAIL_BYTES:]
        except ConnectorError:
            return ""
        lines = [line.strip() for line in tail.decode("utf-8", "replace").splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower()]
        return (errors or lines or [""])[-1]


def service_info_problems(info: dict[str, Any]) -> list[str]:
    """The required GA4GH Service fields (§3) that are missing: id, name, type.*, organization.*, version."""
    missing = [name for name in REQUIRED_SERVICE_FIELDS if not info.get(name)]
    service_type = info.get("type")
    if isinstance(service_type, dict):
        missing += [f"type.{name}" for name in ("group", "artifact", "version") if not service_type.get(name)]
    elif "type" not in missing:
        missing.append("type")
    organization = info.get("organization")
    if isinstance(organization, dict):
        missing += [f"organization.{name}" for name in ("name", "url") if not organization.get(name)]
    elif "organization" not in missing:
        missing.append("organization")
    return missing


def workflow_type_pick(info: dict[str, Any], *, preferred: str = "") -> tuple[str, str]:
    """(workflow_type, workflow_type_version) from the advertised map; never a hardcoded type."""
    offered = _workflow_types(info)
    if not offered:
        raise ConfigurationError("submit: the node advertises no workflow_type_versions.")
    by_upper = {name.upper(): name for name in offered}
    if preferred:
        name = by_upper.get(preferred.upper())
        if not name:
            raise ConfigurationError(
                f"submit: the node does not run {preferred} workflows; it offers {', '.join(offered)}."
            )
    else:
        name = by_upper.get("NEXTFLOW") or next(iter(offered))
    versions = offered[name]
    if not versions:
        raise ConfigurationError(f"submit: the node lists no version of {name}.")
    return name, versions[-1]


def workflow_params(submission: JobSubmission, *, pull: bool) -> dict[str, Any]:
    """imputationserver2's inputs as a JSON object (see the module docstring)."""
    params: dict[str, Any] = {
        "project": submission.job_id,
        "files": list(submission.file_urls) if pull else [item.filename for item in submission.files],
        "output": "output",
        "refpanel": submission.refpanel,
        "build": submission.build,
        "mode": submission.mode,
        "password": submission.password,
        "allele_frequency_population": submission.population,
        "phasing": {"engine": submission.phasing},
    }
    if submission.r2_filter:
        params["imputation"] = {"min_r2": submission.r2_filter}
    if submission.aes_encryption:
        params["encryption"] = {"aes": True}
    if submission.meta:
        params["meta"] = True
    params.update(submission.extra_workflow_params)
    return params


def jwt_claims_unverified(token: str) -> dict[str, Any]:
    """The payload of a JWT for display only (who, until when); the node, not us, decides if it is valid."""
    pieces = token.split(".")
    if len(pieces) != 3:
        return {}
    payload = pieces[1] + "=" * (-len(pieces[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


def _workflow_types(info: dict[str, Any]) -> dict[str, list[str]]:
    raw = info.get("workflow_type_versions")
    if not isinstance(raw, dict):
        return {}
    offered = {}
    for name, entry in raw.items():
        versions = entry.get("workflow_type_version") if isinstance(entry, dict) else entry
        offered[str(name)] = [str(version) for version in versions] if isinstance(versions, list) else []
    return offered


def _engine_pick(info: dict[str, Any]) -> tuple[str, str] | None:
    """1.1 maps engines to `{workflow_engine_version: [...]}`; only then are the 1.1 engine fields sent."""
    engines = info.get("workflow_engine_versions")
    if not isinstance(engines, dict):
        return None
    for name, entry in engines.items():
        versions = entry.get("workflow_engine_version") if isinstance(entry, dict) else None
        if isinstance(versions, list) and versions:
            return str(name), str(versions[-1])
    return None


def _can_pull(submission: JobSubmission, info: dict[str, Any]) -> bool:
    if not submission.file_urls:
        return False
    protocols = {str(item).lower() for item in info.get("supported_filesystem_protocols") or []}
    schemes = {urlsplit(url).scheme.lower() for url in submission.file_urls}
    if protocols:
        return schemes <= protocols
    return not submission.files  # nothing advertised: try the URLs only when there is nothing to push


def _panel_from(item: dict[str, Any]) -> PanelInfo | None:
    slug = str(item.get("id") or item.get("slug") or "")
    if not slug:
        return None
    populations = []
    for population in item.get("populations") or []:
        key = population.get("id") if isinstance(population, dict) else population
        if key:
            populations.append(str(key))
    return PanelInfo(
        slug=slug,
        name=str(item.get("name") or slug),
        build=str(item.get("build") or ""),
        populations=tuple(populations),
        description=str(item.get("description") or ""),
        samples_count=_int_or_none(item.get("samples")),
        variants_count=_int_or_none(item.get("variants")),
    )


def _output_files(group: str, value: Any) -> list[ResultFile]:
    items = value if isinstance(value, list) else [value]
    files = []
    for item in items:
        if isinstance(item, str) and urlsplit(item).scheme in _URL_SCHEMES:
            item = {"url": item}
        if not isinstance(item, dict):
            continue
        url, drs_uri = str(item.get("url") or ""), str(item.get("drs_uri") or "")
        if url.startswith("drs://"):
            url, drs_uri = "", url
        if not url and not drs_uri:
            continue
        name = str(item.get("name") or PurePosixPath(urlsplit(url or drs_uri).path).name)
        files.append(
            ResultFile(
                name=name,
                url=url,
                group=group,
                size=_int_or_none(item.get("size")),
                sha256=str(item.get("sha256") or "").lower(),
                drs_uri=drs_uri,
            )
        )
    return files


def _log_entries(log: dict[str, Any], *, default_name: str) -> list[LogEntry]:
    if not isinstance(log, dict):
        return []
    name = str(log.get("name") or default_name)
    entries = [LogEntry(source=name, message=str(line)) for line in log.get("system_logs") or [] if str(line).strip()]
    code = log.get("exit_code")
    link = str(log.get("stderr") or log.get("stdout") or "")
    if code is not None:
        level: LogLevel = "info" if code == 0 else "error"
        entries.append(
            LogEntry(
                source=name, message=f"exited with code {code}", level=level, time=_iso(log.get("end_time")), url=link
            )
        )
    elif link:
        entries.append(LogEntry(source=name, message="log available", url=link))
    return entries


def _tags_of(raw: Any) -> dict[str, Any]:
    """Tags are an object, but some nodes echo the submitted JSON string back."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    return raw if isinstance(raw, dict) else {}


def _last_line(lines: Any) -> str:
    if not isinstance(lines, list):
        return ""
    texts = [str(line).strip() for line in lines if str(line).strip()]
    return texts[-1] if texts else ""


def _submit_error(response: httpx.Response, operation: str) -> ConnectorError | None:
    """A 404 at submit means a wrong base URL (no /runs), not a lost job; a 429 that the node takes no more runs
    from this user for now (its per-user limit), which the platform answers by re-queueing, as for Cloudgene's
    "Only N jobs..."."""
    if response.status_code == 404:
        return ConfigurationError(f"{operation}: the node has no /runs at this base URL (HTTP 404).", status_code=404)
    if response.status_code == 429:
        text = response.text.strip()[:300]
        return QuotaError(f"{operation}: the node takes no more runs for now (HTTP 429): {text}", status_code=429)
    return None


def _json_object(response: httpx.Response, operation: str) -> dict[str, Any]:
    body = response_json(response, operation) if response.content.strip() else {}
    if not isinstance(body, dict):
        raise ProtocolError(f"{operation}: expected a JSON object.")
    return body


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _run_path(run_id: str) -> str:
    return f"/runs/{quote(run_id, safe='')}"
