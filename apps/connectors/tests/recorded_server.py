"""A loopback HTTP server that plays recorded Cloudgene, GA4GH WES and DRS payloads to the connectors over real HTTP.

Not a simulator of the services (the reference node is that): it answers with the payloads of `payloads.py`, moves
jobs through the state sequences a test asks for, and records every request so tests can assert what went on the
wire. One `ThreadingHTTPServer` on 127.0.0.1 with a random port; HTTP/1.1 keep-alive like the real servers.

Mounts: Cloudgene at the root (`/api/v2/...`, `/share/results/...`), WES at `/ga4gh/wes/v1`, DRS at
`/ga4gh/drs/v1`. Behaviour is set per test through `RecordedServer` methods and `RecordedServer.scenario`:

    job = server.cloudgene_job([1, 2, 3, 4])          # each GET .../status moves one state on
    server.result_file(job, "chr_20.zip", b"...", count=1)
    run = server.wes_run(["QUEUED", "RUNNING", "COMPLETE"], tags={"platform_job_id": "job-1"})
    server.hang("/api/v2/server", seconds=5)          # answer only after 5 s (released at teardown)
    server.fail("/api/v2/jobs/*/status", status=503, times=2)   # then behave normally again
    server.scenario.maintenance = True
    server.requests_to("/api/v2/jobs/submit/*")       # what the connector sent, with parsed multipart parts
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import itertools
import json
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from apps.connectors.tests import payloads
from apps.connectors.tests.payloads import DrsBlob, ResultBlob

CLOUDGENE_TOKEN = "cg-token-alice"
CLOUDGENE_REVOKED_TOKEN = "cg-token-revoked"
WES_TOKEN = "wes-token-alice"
WES_FORBIDDEN_TOKEN = "wes-token-forbidden"
WES_PREFIX = "/ga4gh/wes/v1"
DRS_PREFIX = "/ga4gh/drs/v1"
SUBMIT_FIELDS = {
    "files",
    "refpanel",
    "build",
    "population",
    "phasing",
    "mode",
    "r2Filter",
    "aesEncryption",
    "meta",
    "password",
    "check1",
    "check2",
}
WES_FINISHED = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED", "PREEMPTED"}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it arrived: header names lower-cased; multipart/urlencoded bodies parsed into fields and files."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    fields: dict[str, list[str]]
    files: list[tuple[str, str, bytes]]  # (field name, filename, content)


@dataclass
class Scenario:
    """Switches a test flips; defaults are a healthy MIS-like server and a healthy WES 1.1 node."""

    cloudgene_token: str = CLOUDGENE_TOKEN
    username: str = "alice"
    revoked_tokens: set[str] = field(default_factory=lambda: {CLOUDGENE_REVOKED_TOKEN})
    token_expire_ms: int = payloads.EPOCH_MS + 30 * 86_400_000
    maintenance: bool = False
    maintenance_message: str = "Scheduled maintenance until 18:00 UTC."
    max_running_jobs: int = 2
    legacy_job_list: bool = False  # Cloudgene 2: GET /api/v2/jobs returns a bare array
    verify_endpoint: bool = True  # False: POST /api/v2/tokens/verify is 404 (older servers)
    new_job_states: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    cancel_states: list[int] = field(default_factory=lambda: [6])
    wes_token: str = WES_TOKEN
    wes_forbidden_tokens: set[str] = field(default_factory=lambda: {WES_FORBIDDEN_TOKEN})
    service_info: dict[str, Any] = field(default_factory=payloads.service_info_full)
    starter_kit: bool = False  # cancel no-op with an empty body, attachments ignored, /runs unpaginated
    wes_v10: bool = False  # WES 1.0: RunStatus without tags in /runs, inline task_logs, no /tasks
    new_run_states: list[str] = field(default_factory=lambda: ["QUEUED", "INITIALIZING", "RUNNING", "COMPLETE"])
    page_cap: int | None = None  # serve fewer runs/tasks per page than asked (allowed by the spec)


@dataclass
class CloudgeneJob:
    job_id: str
    name: str
    states: list[int]
    username: str
    failure: tuple[str, str] | None = None
    blobs: list[ResultBlob] = field(default_factory=list)
    position: int = 3
    index: int = -1  # -1: never polled; GET .../status moves it on by one

    @property
    def state(self) -> int:
        return self.states[max(self.index, 0)]

    def advance(self) -> int:
        self.index = min(self.index + 1, len(self.states) - 1)
        return self.state


@dataclass
class WesRun:
    run_id: str
    states: list[str]
    tags: dict[str, str] = field(default_factory=dict)
    request: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    run_log: dict[str, Any] = field(default_factory=dict)
    attachments: list[str] = field(default_factory=list)
    index: int = -1

    @property
    def state(self) -> str:
        return self.states[max(self.index, 0)]

    def advance(self) -> str:
        self.index = min(self.index + 1, len(self.states) - 1)
        return self.state


@dataclass
class _Fault:
    pattern: str
    method: str | None
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]
    remaining: int | None


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None  # send only this many body bytes, then reset the connection


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, json.dumps(body).encode(), "application/json", headers or {})


def _text(status: int, body: str, content_type: str = "text/plain") -> _Reply:
    return _Reply(status, body.encode(), content_type)


class RecordedServer:
    """The server of one test. `url` is the Cloudgene root; `wes_url` the WES base; see the module docstring."""

    def __init__(self) -> None:
        self.scenario = Scenario()
        self.requests: list[RecordedRequest] = []
        self.cloudgene_jobs: dict[str, CloudgeneJob] = {}
        self.wes_runs: dict[str, WesRun] = {}
        self.drs_blobs: dict[str, DrsBlob] = {}
        self.wes_files: dict[str, bytes] = {}
        self.task_stderr: dict[str, str] = {}
        self._lock = threading.RLock()
        self._release = threading.Event()
        self._hangs: list[tuple[str, str | None, float]] = []
        self._faults: list[_Fault] = []
        self._ids = itertools.count(1)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.recorded = self  # type: ignore[attr-defined]
        self._httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="recorded-server", daemon=True
        )

    @classmethod
    def start(cls) -> RecordedServer:
        server = cls()
        server._thread.start()
        return server

    def stop(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def wes_url(self) -> str:
        return self.url + WES_PREFIX

    # -- behaviour a test sets ------------------------------------------------------------------------------------

    def hang(self, path: str, *, seconds: float, method: str | None = None) -> None:
        """Requests to `path` (exact, or an fnmatch pattern like "/api/v2/jobs/*") wait `seconds` before answering."""
        self._hangs.append((path, method, seconds))

    def fail(
        self,
        path: str,
        *,
        status: int = 503,
        body: str | bytes | dict[str, Any] | None = None,
        times: int | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        method: str | None = None,
    ) -> None:
        """The next `times` requests to `path` (all when None) get this answer instead; a dict body is sent as JSON."""
        if isinstance(body, dict):
            raw, kind = json.dumps(body).encode(), content_type or "application/json"
        elif body is None:
            raw, kind = (
                json.dumps(payloads.cloudgene_error(f"HTTP {status}")).encode(),
                content_type or "application/json",
            )
        else:
            raw = body.encode() if isinstance(body, str) else body
            kind = content_type or "text/plain"
        self._faults.append(_Fault(path, method, status, raw, kind, headers or {}, times))

    def cloudgene_job(
        self,
        states: list[int],
        *,
        name: str = "",
        job_id: str = "",
        failure: tuple[str, str] | None = None,
        username: str = "",
    ) -> CloudgeneJob:
        with self._lock:
            job_id = job_id or self._job_id()
            job = CloudgeneJob(job_id, name or job_id, list(states), username or self.scenario.username, failure)
            self.cloudgene_jobs[job_id] = job
            return job

    def result_file(
        self,
        job: CloudgeneJob,
        name: str,
        content: bytes,
        *,
        count: int = 10,
        param: str = "output",
        redirect: bool = False,
        drops: int = 0,
    ) -> ResultBlob:
        blob = ResultBlob(hashlib.sha256(f"{job.job_id}/{name}".encode()).hexdigest()[:32], name, content, count, param)
        blob.redirect, blob.drops = redirect, drops
        job.blobs.append(blob)
        return blob

    def wes_run(
        self,
        states: list[str],
        *,
        run_id: str = "",
        tags: dict[str, str] | None = None,
        outputs: dict[str, Any] | None = None,
        tasks: list[dict[str, Any]] | None = None,
        run_log: dict[str, Any] | None = None,
    ) -> WesRun:
        with self._lock:
            run = WesRun(run_id or f"run-{next(self._ids):04d}", list(states), dict(tags or {}))
            run.outputs, run.tasks, run.run_log = dict(outputs or {}), list(tasks or []), dict(run_log or {})
            self.wes_runs[run.run_id] = run
            return run

    def wes_file(self, name: str, content: bytes) -> str:
        """A result file on the node (needs the bearer token); returns its URL for a run's `outputs`."""
        self.wes_files[name] = content
        return f"{self.url}/node-files/{name}"

    def stderr_url(self, run: WesRun, task_id: str, text: str) -> str:
        self.task_stderr[f"{run.run_id}/{task_id}"] = text
        return f"{self.wes_url}/runs/{run.run_id}/tasks/{task_id}/stderr"

    def drs_object(self, name: str, content: bytes, **options: Any) -> DrsBlob:
        blob = DrsBlob(f"obj-{next(self._ids):04d}", name, content, **options)
        self.drs_blobs[blob.object_id] = blob
        return blob

    def drs_uri(self, blob: DrsBlob) -> str:
        return f"drs://127.0.0.1:{self.port}/{blob.object_id}"

    # -- what was sent --------------------------------------------------------------------------------------------

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [item for item in list(self.requests) if _matches(path, item.path) and method in (None, item.method)]

    def last_request(self, path: str = "*", method: str | None = None) -> RecordedRequest:
        matching = self.requests_to(path, method)
        assert matching, f"no {method or 'request'} to {path}; got {[r.path for r in self.requests]}"
        return matching[-1]

    # -- internals ------------------------------------------------------------------------------------------------

    def _job_id(self) -> str:
        now = datetime.now(UTC)
        return f"job-{now:%Y%m%d-%H%M%S}-{next(self._ids) % 1000:03d}"

    def _answer(self, request: RecordedRequest) -> _Reply:
        self.requests.append(request)
        for pattern, method, seconds in self._hangs:
            if _matches(pattern, request.path) and method in (None, request.method):
                self._release.wait(seconds)
        with self._lock:
            for fault in self._faults:
                if (
                    fault.remaining != 0
                    and _matches(fault.pattern, request.path)
                    and fault.method in (None, request.method)
                ):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return _Reply(fault.status, fault.body, fault.content_type, dict(fault.headers))
            for method, regex, handler in _ROUTES:
                match = regex.fullmatch(request.path)
                if match and method == request.method:
                    return handler(self, request, *[unquote(group) for group in match.groups()])
        return _json(
            404, {"success": False, "message": f"No route {request.method} {request.path}", "status_code": 404}
        )


def _matches(pattern: str, path: str) -> bool:
    return fnmatch.fnmatchcase(path, pattern) if any(c in pattern for c in "*?[") else path == pattern


# -- Cloudgene ------------------------------------------------------------------------------------------------------


def _cloudgene_user(server: RecordedServer, request: RecordedRequest) -> tuple[str | None, _Reply | None]:
    """(username, None), (None, None) when anonymous, or (None, the 401/403 answer) for a bad token (§1.2)."""
    token = request.headers.get("x-auth-token", "")
    if not token:
        return None, None
    if token == server.scenario.cloudgene_token:
        return server.scenario.username, None
    if token in server.scenario.revoked_tokens:
        return None, _json(403, payloads.cloudgene_error("The API token has been revoked."))
    return None, _Reply(401)  # Micronaut's security filter: an empty 401


def _signed_in(server: RecordedServer, request: RecordedRequest) -> tuple[str, _Reply | None]:
    username, refusal = _cloudgene_user(server, request)
    if refusal:
        return "", refusal
    if username is None:
        return "", _Reply(401)
    return username, None


def _maintenance(server: RecordedServer) -> _Reply | None:
    if server.scenario.maintenance:
        return _json(503, payloads.cloudgene_error("This functionality is currently under maintenance."))
    return None


def cg_server(server: RecordedServer, request: RecordedRequest) -> _Reply:
    username, refusal = _cloudgene_user(server, request)
    if refusal:
        return refusal
    scenario = server.scenario
    return _json(
        200,
        payloads.server_info(username=username, maintenance=scenario.maintenance, message=scenario.maintenance_message),
    )


def cg_app(server: RecordedServer, request: RecordedRequest, app_id: str) -> _Reply:
    _, refusal = _cloudgene_user(server, request)
    if refusal:
        return refusal
    if app_id.split("@")[0] != payloads.APP_ID:
        return _json(404, payloads.cloudgene_error(f"Application '{app_id}' not found."))
    return _json(200, payloads.app_form())


def cg_verify(server: RecordedServer, request: RecordedRequest) -> _Reply:
    if not server.scenario.verify_endpoint:
        return _json(404, payloads.cloudgene_error("Page not found."))
    token = (request.fields.get("token") or [""])[0]
    if token == server.scenario.cloudgene_token:
        return _json(
            200,
            {
                "valid": True,
                "message": f"API Token was created by {server.scenario.username} and is valid.",
                "username": server.scenario.username,
                "name": server.scenario.username.title(),
                "mail": f"{server.scenario.username}@example.org",
                "expire": server.scenario.token_expire_ms,
            },
        )
    return _json(200, {"valid": False, "message": "Invalid API Token.", "expire": None})


def cg_submit(server: RecordedServer, request: RecordedRequest, app_id: str) -> _Reply:
    username, refusal = _signed_in(server, request)
    if refusal:
        return refusal
    if down := _maintenance(server):
        return down
    if app_id.split("@")[0] != payloads.APP_ID:
        return _json(404, payloads.cloudgene_error(f"Application '{app_id}' not found."))
    names = [*request.fields, *(name for name, _, _ in request.files)]
    for raw_name in names:
        name = raw_name.removeprefix("input-")
        if name not in SUBMIT_FIELDS and name != "job-name" and not name.endswith("-pattern"):
            return _json(400, payloads.cloudgene_error(f"Parameter '{name}' not found."))
    scenario = server.scenario
    active = [job for job in server.cloudgene_jobs.values() if job.username == username and job.state in (1, 2, 3)]
    if len(active) >= scenario.max_running_jobs:
        text = f"Only {scenario.max_running_jobs} jobs per user can be executed simultaneously."
        return _json(400, payloads.cloudgene_error(text))
    name = (request.fields.get("job-name") or [""])[0]
    job = server.cloudgene_job(scenario.new_job_states, name=name, username=username)
    return _json(
        200, {"success": True, "message": "Your job was successfully added to the job queue.", "id": job.job_id}
    )


def _job_or_404(
    server: RecordedServer, request: RecordedRequest, job_id: str
) -> tuple[CloudgeneJob | None, _Reply | None]:
    username, refusal = _signed_in(server, request)
    if refusal:
        return None, refusal
    if down := _maintenance(server):
        return None, down
    job = server.cloudgene_jobs.get(job_id)
    if job is None or job.username != username:
        return None, _json(404, payloads.cloudgene_error(f"Job {job_id} not found."))
    return job, None


def _job_info(job: CloudgeneJob) -> dict[str, Any]:
    return payloads.job_info(
        job_id=job.job_id,
        name=job.name,
        state=job.state,
        username=job.username,
        position=job.position,
        failure=job.failure,
        blobs=job.blobs,
    )


def cg_jobs(server: RecordedServer, request: RecordedRequest) -> _Reply:
    username, refusal = _signed_in(server, request)
    if refusal:
        return refusal
    if down := _maintenance(server):
        return down
    rows = [_job_info(job) for job in server.cloudgene_jobs.values() if job.username == username]
    for row in rows:
        row.pop("steps"), row.pop("outputParams")
    if server.scenario.legacy_job_list:
        return _json(200, rows)
    page = {"count": len(rows), "page": 1, "pageSize": len(rows), "prev": None, "next": None, "pages": [1]}
    return _json(200, {**page, "data": rows})


def cg_job(server: RecordedServer, request: RecordedRequest, job_id: str) -> _Reply:
    job, refusal = _job_or_404(server, request, job_id)
    if refusal or job is None:
        return refusal or _Reply(500)
    return _json(200, _job_info(job))


def cg_status(server: RecordedServer, request: RecordedRequest, job_id: str) -> _Reply:
    job, refusal = _job_or_404(server, request, job_id)
    if refusal or job is None:
        return refusal or _Reply(500)
    job.advance()
    return _json(200, _job_info(job))


def cg_cancel(server: RecordedServer, request: RecordedRequest, job_id: str) -> _Reply:
    job, refusal = _job_or_404(server, request, job_id)
    if refusal or job is None:
        return refusal or _Reply(500)
    if job.state in (1, 2, 3):
        position = max(job.index, 0)
        job.states = job.states[: position + 1] + server.scenario.cancel_states
        job.index = position + 1
    return _json(200, _job_info(job))


def cg_restart(server: RecordedServer, request: RecordedRequest, job_id: str) -> _Reply:
    job, refusal = _job_or_404(server, request, job_id)
    if refusal or job is None:
        return refusal or _Reply(500)
    if job.state != -1:
        return _json(400, payloads.cloudgene_error(f"Job {job_id} is not pending."))
    position = max(job.index, 0)
    job.states = job.states[: position + 1] + server.scenario.new_job_states
    return _json(200, {"success": True, "message": f"Job {job_id} restarted."})


def cg_share(server: RecordedServer, request: RecordedRequest, file_hash: str, name: str) -> _Reply:
    blob = next((b for job in server.cloudgene_jobs.values() for b in job.blobs if b.hash == file_hash), None)
    if blob is None or blob.name != name:
        return _json(404, payloads.cloudgene_error("File not found."))
    if blob.count == 0:
        return _json(400, payloads.cloudgene_error("number of max downloads exceeded."))
    if blob.count > 0:
        blob.count -= 1
    if blob.redirect:
        location = f"{server.url}/presigned/{file_hash}/{name}?X-Amz-Signature=recorded"
        return _Reply(302, b"", "text/plain", {"Location": location})
    return _blob_reply(blob)


def cg_presigned(server: RecordedServer, request: RecordedRequest, file_hash: str, name: str) -> _Reply:
    blob = next((b for job in server.cloudgene_jobs.values() for b in job.blobs if b.hash == file_hash), None)
    if blob is None:
        return _text(404, "NoSuchKey", "application/xml")
    return _blob_reply(blob)


def _blob_reply(blob: ResultBlob) -> _Reply:
    if blob.drops > 0:
        blob.drops -= 1
        return _Reply(200, blob.content, "application/octet-stream", drop_after=len(blob.content) // 2)
    return _Reply(200, blob.content, "application/octet-stream")


# -- WES ------------------------------------------------------------------------------------------------------------


def _bearer_refusal(server: RecordedServer, request: RecordedRequest) -> _Reply | None:
    header = request.headers.get("authorization", "")
    token = header[7:] if header.startswith("Bearer ") else ""
    if token and token == server.scenario.wes_token:
        return None
    if token in server.scenario.wes_forbidden_tokens:
        return _json(403, payloads.wes_error(403, "The token may not access this node."))
    return _json(401, payloads.wes_error(401, "A valid bearer token is required."))


def _page(items: list[Any], request: RecordedRequest, *, cap: int | None = None) -> tuple[list[Any], str]:
    """An opaque page token, "" after the last page; `cap` serves fewer than asked."""
    size = int((request.query.get("page_size") or ["20"])[0])
    size = min(size, cap) if cap else size
    token = (request.query.get("page_token") or [""])[0]
    start = int(base64.urlsafe_b64decode(token.encode()).decode().split(":")[1]) if token else 0
    end = start + size
    following = base64.urlsafe_b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], following


def wes_service_info(server: RecordedServer, request: RecordedRequest) -> _Reply:
    return _json(200, server.scenario.service_info)


def wes_list(server: RecordedServer, request: RecordedRequest) -> _Reply:
    if refusal := _bearer_refusal(server, request):
        return refusal
    runs = list(server.wes_runs.values())
    if server.scenario.starter_kit:  # no pagination; only runs with a stored final log
        return _json(200, {"runs": [_run_summary(server, run) for run in runs if run.state in WES_FINISHED]})
    page, following = _page(runs, request, cap=server.scenario.page_cap)
    return _json(200, {"runs": [_run_summary(server, run) for run in page], "next_page_token": following})


def _run_summary(server: RecordedServer, run: WesRun) -> dict[str, Any]:
    if server.scenario.wes_v10:
        return {"run_id": run.run_id, "state": run.state}
    return {
        "run_id": run.run_id,
        "state": run.state,
        "start_time": "2026-01-01T00:00:00Z",
        "end_time": "2026-01-01T01:00:00Z" if run.state in WES_FINISHED else None,
        "tags": run.tags,
    }


def wes_submit(server: RecordedServer, request: RecordedRequest) -> _Reply:
    if refusal := _bearer_refusal(server, request):
        return refusal
    fields = {name: values[0] for name, values in request.fields.items()}
    for required in ("workflow_type", "workflow_type_version", "workflow_url"):
        if not fields.get(required):
            return _json(400, payloads.wes_error(400, f"{required} is required."))
    offered = server.scenario.service_info.get("workflow_type_versions") or {}
    if server.scenario.starter_kit and fields["workflow_type"] not in ("WDL", "NEXTFLOW"):
        return _json(400, payloads.wes_error(400, f"Unsupported workflow_type: {fields['workflow_type']}"))
    versions = (offered.get(fields["workflow_type"]) or {}).get("workflow_type_version") or []
    if fields["workflow_type_version"] not in versions:
        return _json(400, payloads.wes_error(400, "workflow_type/workflow_type_version not supported."))
    if server.scenario.starter_kit and "workflow_params" not in fields:
        return _json(400, payloads.wes_error(400, "workflow_params is required."))
    try:
        params = json.loads(fields.get("workflow_params") or "{}")
        tags = json.loads(fields.get("tags") or "{}")
    except ValueError:
        return _json(400, payloads.wes_error(400, "workflow_params and tags must be JSON objects."))
    attachments = []
    for name, filename, _ in request.files:
        if name == "workflow_attachment":
            if not filename or ".." in filename.split("/"):
                return _json(400, payloads.wes_error(400, f"Invalid attachment name {filename!r}."))
            attachments.append(filename)
    run = server.wes_run(server.scenario.new_run_states, tags=tags)
    run.request = {**fields, "workflow_params": params, "tags": tags}
    run.attachments = [] if server.scenario.starter_kit else attachments
    return _json(200, {"run_id": run.run_id})


def _run_or_404(server: RecordedServer, request: RecordedRequest, run_id: str) -> tuple[WesRun | None, _Reply | None]:
    if refusal := _bearer_refusal(server, request):
        return None, refusal
    run = server.wes_runs.get(run_id)
    if run is None:
        return None, _json(404, payloads.wes_error(404, f"Run {run_id} not found."))
    return run, None


def wes_run_log(server: RecordedServer, request: RecordedRequest, run_id: str) -> _Reply:
    run, refusal = _run_or_404(server, request, run_id)
    if refusal or run is None:
        return refusal or _Reply(500)
    failed = run.state in ("EXECUTOR_ERROR", "SYSTEM_ERROR")
    body: dict[str, Any] = {
        "run_id": run.run_id,
        "request": run.request or {"tags": run.tags, "workflow_params": {}},
        "state": run.state,
        "run_log": {
            "name": "imputationserver2",
            "cmd": ["nextflow", "run", "genepi/imputationserver2"],
            "start_time": "2026-01-01T00:00:00Z",
            "end_time": "2026-01-01T01:00:00Z" if run.state in WES_FINISHED else None,
            "stdout": "",
            "stderr": "",
            "exit_code": (1 if failed else 0) if run.state in WES_FINISHED else None,
            "system_logs": [],
            **run.run_log,
        },
        "outputs": run.outputs if run.state == "COMPLETE" else {},
    }
    if server.scenario.wes_v10:
        body["task_logs"] = run.tasks
    else:
        body["task_logs_url"] = f"{server.wes_url}/runs/{run.run_id}/tasks"
    return _json(200, body)


def wes_status(server: RecordedServer, request: RecordedRequest, run_id: str) -> _Reply:
    run, refusal = _run_or_404(server, request, run_id)
    if refusal or run is None:
        return refusal or _Reply(500)
    state = run.advance()
    return _json(200, {"run_id": run.run_id} if state == "" else {"run_id": run.run_id, "state": state})


def wes_cancel(server: RecordedServer, request: RecordedRequest, run_id: str) -> _Reply:
    run, refusal = _run_or_404(server, request, run_id)
    if refusal or run is None:
        return refusal or _Reply(500)
    if server.scenario.starter_kit:
        return _Reply(200, b"", "application/json")
    if run.state not in WES_FINISHED:
        position = max(run.index, 0)
        run.states = [*run.states[: position + 1], "CANCELING", "CANCELED"]
    return _json(200, {"run_id": run.run_id})


def wes_tasks(server: RecordedServer, request: RecordedRequest, run_id: str) -> _Reply:
    run, refusal = _run_or_404(server, request, run_id)
    if refusal or run is None:
        return refusal or _Reply(500)
    if server.scenario.wes_v10:
        return _json(404, payloads.wes_error(404, "Not found."))
    page, following = _page(run.tasks, request, cap=server.scenario.page_cap)
    return _json(200, {"task_logs": page, "next_page_token": following})


def wes_task_stderr(server: RecordedServer, request: RecordedRequest, run_id: str, task_id: str) -> _Reply:
    if refusal := _bearer_refusal(server, request):
        return refusal
    text = server.task_stderr.get(f"{run_id}/{task_id}")
    return _text(200, text) if text is not None else _json(404, payloads.wes_error(404, "No such log."))


def node_file(server: RecordedServer, request: RecordedRequest, name: str) -> _Reply:
    if refusal := _bearer_refusal(server, request):
        return refusal
    content = server.wes_files.get(name)
    return _Reply(200, content, "application/octet-stream") if content is not None else _Reply(404)


# -- DRS ------------------------------------------------------------------------------------------------------------


def drs_object(server: RecordedServer, request: RecordedRequest, object_id: str) -> _Reply:
    if refusal := _bearer_refusal(server, request):
        return refusal
    blob = server.drs_blobs.get(object_id)
    if blob is None:
        return _json(404, {"msg": f"Object {object_id} not found.", "status_code": 404})
    if blob.pending > 0:
        blob.pending -= 1
        return _Reply(202, b"", "application/json", {"Retry-After": str(blob.retry_after)})
    method: dict[str, Any] = {"type": "https"}
    if blob.via_access_id:
        method["access_id"] = "signed-1"
    else:
        method["access_url"] = {"url": f"{server.url}/drs-blobs/{object_id}"}
    return _json(
        200,
        {
            "id": object_id,
            "name": blob.name,
            "self_uri": server.drs_uri(blob),
            "size": len(blob.content),
            "created_time": "2026-01-01T00:00:00Z",
            "checksums": [{"checksum": hashlib.sha256(blob.content).hexdigest(), "type": "sha-256"}],
            "access_methods": [{"type": "s3", "access_url": {"url": f"s3://bucket/{object_id}"}}, method],
        },
    )


def drs_access(server: RecordedServer, request: RecordedRequest, object_id: str, access_id: str) -> _Reply:
    if refusal := _bearer_refusal(server, request):
        return refusal
    blob = server.drs_blobs.get(object_id)
    if blob is None or access_id != "signed-1":
        return _json(404, {"msg": "No such access id.", "status_code": 404})
    if blob.access_pending > 0:
        blob.access_pending -= 1
        return _Reply(202, b"", "application/json", {"Retry-After": str(blob.retry_after)})
    headers = [f"{name}: {value}" for name, value in blob.headers.items()]
    return _json(200, {"url": f"{server.url}/drs-blobs/{object_id}?signature=recorded", "headers": headers})


def drs_blob(server: RecordedServer, request: RecordedRequest, object_id: str) -> _Reply:
    blob = server.drs_blobs.get(object_id)
    if blob is None:
        return _Reply(404)
    if any(request.headers.get(name.lower()) != value for name, value in blob.headers.items()):
        return _text(403, "signature header missing")
    return _Reply(200, blob.content, "application/octet-stream")


Handler = Callable[..., _Reply]
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"/api/v2/server"), cg_server),
    ("GET", re.compile(r"/api/v2/server/apps/([^/]+)"), cg_app),
    ("POST", re.compile(r"/api/v2/tokens/verify"), cg_verify),
    ("POST", re.compile(r"/api/v2/jobs/submit/([^/]+)"), cg_submit),
    ("GET", re.compile(r"/api/v2/jobs"), cg_jobs),
    ("GET", re.compile(r"/api/v2/jobs/([^/]+)"), cg_job),
    ("GET", re.compile(r"/api/v2/jobs/([^/]+)/status"), cg_status),
    ("GET", re.compile(r"/api/v2/jobs/([^/]+)/cancel"), cg_cancel),
    ("GET", re.compile(r"/api/v2/jobs/([^/]+)/restart"), cg_restart),
    ("GET", re.compile(r"/share/results/([^/]+)/(.+)"), cg_share),
    ("GET", re.compile(r"/presigned/([^/]+)/(.+)"), cg_presigned),
    ("GET", re.compile(WES_PREFIX + r"/service-info"), wes_service_info),
    ("GET", re.compile(WES_PREFIX + r"/runs"), wes_list),
    ("POST", re.compile(WES_PREFIX + r"/runs"), wes_submit),
    ("GET", re.compile(WES_PREFIX + r"/runs/([^/]+)"), wes_run_log),
    ("GET", re.compile(WES_PREFIX + r"/runs/([^/]+)/status"), wes_status),
    ("POST", re.compile(WES_PREFIX + r"/runs/([^/]+)/cancel"), wes_cancel),
    ("GET", re.compile(WES_PREFIX + r"/runs/([^/]+)/tasks"), wes_tasks),
    ("GET", re.compile(WES_PREFIX + r"/runs/([^/]+)/tasks/([^/]+)/stderr"), wes_task_stderr),
    ("GET", re.compile(r"/node-files/(.+)"), node_file),
    ("GET", re.compile(DRS_PREFIX + r"/objects/([^/]+)"), drs_object),
    ("GET", re.compile(DRS_PREFIX + r"/objects/([^/]+)/access/([^/]+)"), drs_access),
    ("GET", re.compile(r"/drs-blobs/([^/]+)"), drs_blob),
]


# -- HTTP -----------------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "RecordedServer/1.0"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests assert on recorded requests, not on a log."""

    def _serve(self) -> None:
        recorded: RecordedServer = self.server.recorded  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        body = self._body()
        fields, files = _form(self.headers.get("Content-Type", ""), body)
        request = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            fields=fields,
            files=files,
        )
        self._reply(recorded._answer(request))

    do_GET = do_POST = do_DELETE = do_PUT = _serve

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.drop_after is None:
            self.wfile.write(reply.body)
            return
        self.wfile.write(reply.body[: reply.drop_after])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


def _form(content_type: str, body: bytes) -> tuple[dict[str, list[str]], list[tuple[str, str, bytes]]]:
    """multipart/form-data (byte-exact, own parser) or urlencoded fields; anything else has none."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {name: values for name, values in parse_qs(body.decode()).items()}, []
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/form-data") or not match:
        return {}, []
    fields: dict[str, list[str]] = {}
    files: list[tuple[str, str, bytes]] = []
    delimiter = b"--" + match.group(1).encode()
    for section in body.split(delimiter)[1:]:
        if section.startswith(b"--"):
            break
        head, _, content = section.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        disposition = next(
            (line for line in head.decode().split("\r\n") if line.lower().startswith("content-disposition")), ""
        )
        params = dict(re.findall(r'(\w+)="([^"]*)"', disposition))
        if "filename" in params:
            files.append((params.get("name", ""), unquote(params["filename"]), content))
        else:
            fields.setdefault(params.get("name", ""), []).append(content.decode())
    return fields, files
