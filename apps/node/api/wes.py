"""The GA4GH WES 1.1 front (protocols.md §2, §3, §8.3) over the same job engine as the Cloudgene front.

The node runs one workflow, its own QC + Beagle pipeline; `workflow_params` carry imputationserver2's inputs
(refpanel, build, mode, password, ...). The VCFs arrive as `workflow_attachment` parts, or as http(s) URLs in
`workflow_params.files` that the pipeline downloads first (`supported_filesystem_protocols`). Each pipeline step is
a task. Outputs follow §8.3: `{"results": [{name, url, size, sha256}], "qc_report": {...}, "logs": [...]}`, the
URLs being the anonymous /share/results capabilities; a failed run keeps what it published (a failed QC's report).

Cancel: a queued run is CANCELED at once, a running one reads CANCELING until the pipeline has stopped and then
CANCELED; once a run is exporting its results the cancel has lost the race (it stays RUNNING and ends COMPLETE, as a
Cloudgene job in state 3 ends in 4). Retention has no WES state: a retired run keeps the name of its end (COMPLETE,
EXECUTOR_ERROR or CANCELED) and its outputs are gone (their URLs answer 404).
"""

from __future__ import annotations

import base64
import json
from pathlib import PurePosixPath
from typing import Any, Final
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.node import engine, states, tasks
from apps.node.api.common import (
    MAINTENANCE_MESSAGE,
    inputs_store,
    open_endpoint,
    signed_in,
    submit_intake,
)
from apps.node.models import LogMessage, NodeJob, NodeUser, OutputFile, Panel, Step, Switches

WES_VERSION: Final = "1.1.0"
NODE_VERSION: Final = "2.0.0"
WORKFLOW_URL: Final = "https://github.com/genepi/imputationserver2"
WORKFLOW_TYPES: Final = {"NEXTFLOW": ["23.04"]}
PULL_SCHEMES: Final = ("http", "https")
DEFAULT_PAGE_SIZE: Final = 20
MAX_PAGE_SIZE: Final = 100
DESCRIPTION: Final = "Quality control, phasing and imputation with Beagle 5 against the node's panels."
_NESTED: Final = frozenset({"phasing", "imputation", "encryption"})
_TIME: Final = "%Y-%m-%dT%H:%M:%SZ"


def wes_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"msg": message, "status_code": status}, status=status)


# Bearer token (the node's API token): 401 missing/invalid/expired, 403 revoked, 503 in maintenance
bearer_required = signed_in(wes_error)
anonymous = open_endpoint(wes_error)


@require_GET
@anonymous
def service_info(request: HttpRequest) -> HttpResponse:
    """Every required GA4GH Service field, the WES extras and the `reference_panels` extension the connector reads.

    A node that cannot run jobs (maintenance, or Beagle missing) answers 503 with the reason: WES has no
    maintenance flag, and service-info is what clients probe for health.
    """
    problem = engine.beagle_problem() or (MAINTENANCE_MESSAGE if Switches.current().get("maintenance") else None)
    if problem:
        return wes_error(503, problem)
    counts = {
        name: 0 for name in ("QUEUED", "RUNNING", "COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELING", "CANCELED")
    }
    for row in NodeJob.objects.values("state").annotate(total=Count("id")):
        name = states.WES_STATES.get(row["state"], "UNKNOWN")
        counts[name] = counts.get(name, 0) + row["total"]
    return JsonResponse(
        {
            "id": "org.federated-imputation.reference-node",
            "name": "Reference Imputation Node",
            "type": {"group": "org.ga4gh", "artifact": "wes", "version": WES_VERSION},
            "description": DESCRIPTION,
            "organization": {"name": "Federated Imputation Platform", "url": "https://github.com/"},
            "version": NODE_VERSION,
            "environment": "dev" if settings.DEBUG else "prod",
            "workflow_type_versions": {name: {"workflow_type_version": list(v)} for name, v in WORKFLOW_TYPES.items()},
            "supported_wes_versions": ["1.0.0", WES_VERSION],
            "supported_filesystem_protocols": list(PULL_SCHEMES),  # workflow_params.files may be such URLs
            "workflow_engine_versions": {"beagle": {"workflow_engine_version": ["5.4"]}},
            "default_workflow_engine_parameters": [],
            "system_state_counts": counts,
            "auth_instructions_url": request.build_absolute_uri(f"{_root(request)}api/v2/server"),
            "tags": {"workflow_url": WORKFLOW_URL},
            "reference_panels": [_panel_json(panel) for panel in Panel.objects.order_by("slug")],
        }
    )


@csrf_exempt
@require_POST
@bearer_required
def runs_submit(request: HttpRequest, user: NodeUser) -> HttpResponse:
    """POST /runs, multipart per §2.1: validated fields; attachments streamed to the job's input folder, http(s)
    URLs in `workflow_params.files` left for the pipeline to download."""
    intake = submit_intake(request, user, error=wes_error, limit_status=429)
    if isinstance(intake, HttpResponse):
        return intake
    fields, files = intake
    for required in ("workflow_type", "workflow_type_version", "workflow_url"):
        if not fields.get(required):
            return wes_error(400, f"{required} is required.")
    versions = WORKFLOW_TYPES.get(str(fields.get("workflow_type")))
    if versions is None or fields["workflow_type_version"] not in versions:
        return wes_error(
            400, f"Unsupported workflow {fields['workflow_type']} {fields['workflow_type_version']}; see service-info."
        )
    decoded: dict[str, dict[str, Any]] = {}
    for name in ("workflow_params", "tags", "workflow_engine_parameters"):
        try:
            value = json.loads(fields.get(name) or "{}")
        except ValueError:
            value = None
        if not isinstance(value, dict):
            return wes_error(400, f"{name} must be a JSON object.")
        decoded[name] = value
    attachments = files.getlist("workflow_attachment")
    for part in attachments:
        if not part.name or ".." in PurePosixPath(part.name).parts:
            return wes_error(400, f"Invalid attachment name {part.name!r}.")
    urls = input_urls(decoded["workflow_params"].get("files"))
    if isinstance(urls, str):
        return wes_error(400, urls)
    if not attachments and not urls:
        return wes_error(
            400, "No input files: attach the VCFs (workflow_attachment) or list http(s) URLs in workflow_params.files."
        )
    params, password = _pipeline_params(decoded["workflow_params"])
    params["input_urls"] = urls
    request_echo = {
        **{name: fields[name] for name in ("workflow_type", "workflow_type_version", "workflow_url")},
        **decoded,
        **{name: fields[name] for name in ("workflow_engine", "workflow_engine_version") if fields.get(name)},
    }
    request_echo["workflow_params"] = {k: v for k, v in decoded["workflow_params"].items() if k != "password"}
    job = engine.job_create(
        user,
        name=str(decoded["workflow_params"].get("project") or ""),
        params=params,
        password=password,
        front="wes",
        wes_request=request_echo,
        tags={str(key): str(value) for key, value in decoded["tags"].items()},
        user_agent=request.headers.get("User-Agent", "")[:300],
    )
    inputs_store(job, attachments)
    tasks.enqueue(job)
    return JsonResponse({"run_id": job.id})


def input_urls(files: Any) -> list[str] | str:
    """The entries of `workflow_params.files` that are URLs (the others name attachments), or why they are refused:
    this node pulls http and https only."""
    entries = [files] if isinstance(files, str) else files if isinstance(files, list) else []
    urls = [str(entry) for entry in entries if "://" in str(entry)]
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme.lower() not in PULL_SCHEMES or not parts.hostname:
            return f"Cannot pull {url!r}: workflow_params.files takes http and https URLs only."
    return urls


@csrf_exempt
def runs(request: HttpRequest) -> HttpResponseBase:
    """/runs: GET lists, POST submits (one path, two methods)."""
    if request.method == "POST":
        return runs_submit(request)
    return runs_list(request)


@require_GET
@bearer_required
def runs_list(request: HttpRequest, user: NodeUser) -> HttpResponse:
    """Newest first; the page token is the last run id shown (ids sort by time), so new runs never shift pages."""
    size = _page_size(request)
    rows = NodeJob.objects.filter(user=user).exclude(state=states.DELETED).order_by("-id")
    after = _token_decode(request.GET.get("page_token", ""))
    if after:
        rows = rows.filter(id__lt=after)
    page = list(rows[: size + 1])
    following = _token_encode(page[size - 1].id) if len(page) > size else ""
    return JsonResponse(
        {
            "runs": [
                {
                    "run_id": job.id,
                    "state": wes_state(job),
                    "start_time": _time(job.start_time),
                    "end_time": _time(job.end_time),
                    "tags": job.tags,
                }
                for job in page[:size]
            ],
            "next_page_token": following,
        }
    )


@require_GET
@bearer_required
def run_log(request: HttpRequest, user: NodeUser, run_id: str) -> HttpResponse:
    job = _owned(user, run_id)
    if job is None:
        return wes_error(404, f"Run {run_id} not found.")
    errors = list(LogMessage.objects.filter(step__job=job, type=LogMessage.ERROR).values_list("message", flat=True))
    state = wes_state(job)
    return JsonResponse(
        {
            "run_id": job.id,
            "request": job.wes_request,
            "state": state,
            "run_log": {
                "name": "imputationserver2",
                "cmd": ["beagle", "gt=<qc-passed input>", "ref=<panel>", "out=<chromosome>"],
                "start_time": _time(job.start_time),
                "end_time": _time(job.end_time),
                "stdout": "",
                "stderr": "",
                "exit_code": _exit_code(job),
                "system_logs": errors,
            },
            "task_logs_url": request.build_absolute_uri(f"{request.path}/tasks"),
            # a failed run keeps what it published (the QC report and statistics of a failed QC)
            "outputs": _outputs(request, job) if state in ("COMPLETE", "EXECUTOR_ERROR") else {},
        }
    )


@require_GET
@bearer_required
def run_status(request: HttpRequest, user: NodeUser, run_id: str) -> HttpResponse:
    job = _owned(user, run_id)
    if job is None:
        return wes_error(404, f"Run {run_id} not found.")
    return JsonResponse({"run_id": job.id, "state": wes_state(job)})


@require_GET
@bearer_required
def run_tasks(request: HttpRequest, user: NodeUser, run_id: str) -> HttpResponse:
    """One task per pipeline step; steps are only appended, so an offset token stays valid."""
    job = _owned(user, run_id)
    if job is None:
        return wes_error(404, f"Run {run_id} not found.")
    size = _page_size(request)
    offset_text = _token_decode(request.GET.get("page_token", ""))
    offset = int(offset_text) if offset_text.isdigit() else 0
    steps = list(job.steps.prefetch_related("messages")[offset : offset + size + 1])
    following = _token_encode(str(offset + size)) if len(steps) > size else ""
    return JsonResponse({"task_logs": [_task(step, job) for step in steps[:size]], "next_page_token": following})


@csrf_exempt
@require_POST
@bearer_required
def run_cancel(request: HttpRequest, user: NodeUser, run_id: str) -> HttpResponse:
    """A queued run is CANCELED at once; a running one reads CANCELING until the pipeline has stopped, then
    CANCELED. An exporting run is past the point of no return: it stays RUNNING and ends COMPLETE (the cancel lost
    the race, as on the Cloudgene front), and a finished run is left as it is."""
    job = _owned(user, run_id)
    if job is None:
        return wes_error(404, f"Run {run_id} not found.")
    engine.cancel_request(job)
    return JsonResponse({"run_id": job.id})


def wes_state(job: NodeJob) -> str:
    """The WES name of the job's state. A cancel asked of a running job shows CANCELING until it stops; after
    retention (8, 9, then 7) the run keeps the name of the end it reached, so a cancelled run never reads as failed."""
    if job.cancel_requested and job.state == states.RUNNING:
        return "CANCELING"
    if job.state in (states.SUCCESS_NOTIFIED, states.FAILED_NOTIFIED, states.RETIRED) and job.outcome:
        return states.WES_STATES[job.outcome]
    return states.WES_STATES.get(job.state, "UNKNOWN")


def _pipeline_params(workflow_params: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """imputationserver2's inputs (nested `phasing.engine`, `imputation.min_r2`, `encryption.aes`) as job params."""
    nested = {key: value if isinstance(value, dict) else {} for key, value in workflow_params.items() if key in _NESTED}
    password = str(workflow_params.get("password") or "")
    params: dict[str, Any] = {
        "refpanel": str(workflow_params.get("refpanel") or ""),
        "build": str(workflow_params.get("build") or "hg19"),
        "mode": str(workflow_params.get("mode") or "imputation"),
        "population": str(workflow_params.get("allele_frequency_population") or "off"),
        "phasing": str(nested.get("phasing", {}).get("engine") or "eagle"),
        "r2Filter": str(nested.get("imputation", {}).get("min_r2") or "0"),
        "aesEncryption": bool(nested.get("encryption", {}).get("aes")),
        "meta": bool(workflow_params.get("meta")),
        "password_given": bool(password),
    }
    return params, password


def _outputs(request: HttpRequest, job: NodeJob) -> dict[str, Any]:
    def entry(file: OutputFile) -> dict[str, Any]:
        url = request.build_absolute_uri(f"{_root(request)}share/results/{file.hash}/{file.name}")
        return {"name": file.name, "url": url, "size": file.size, "sha256": file.sha256}

    files = list(OutputFile.objects.filter(param__job=job).select_related("param"))
    outputs: dict[str, Any] = {
        "results": [entry(file) for file in files if file.param.param_id == "output" and file.name != "qc_report.txt"],
        "logs": [entry(file) for file in files if file.param.param_id == "cloudgene_logs"],
    }
    report = [entry(file) for file in files if file.name == "qc_report.txt"]
    if report:
        outputs["qc_report"] = report[0]
    return outputs


def _root(request: HttpRequest) -> str:
    """Where the node is mounted (/ or /node/): everything before the WES prefix."""
    return request.path.split("ga4gh/wes/v1/")[0]


def _task(step: Step, job: NodeJob) -> dict[str, Any]:
    messages = list(step.messages.all())
    failed = any(message.type == LogMessage.ERROR for message in messages)
    finished = failed or step.ended is not None or job.state not in states.ACTIVE
    return {
        "id": str(step.pk),
        "name": step.name,
        "cmd": [],
        "start_time": _time(step.started),
        "end_time": _time(step.ended or (job.end_time if finished else None)),
        "stdout": "",
        "stderr": "",
        "exit_code": (1 if failed else 0) if finished else None,
        "system_logs": [message.message for message in messages],
    }


def _exit_code(job: NodeJob) -> int | None:
    if job.state in (states.SUCCESS, states.SUCCESS_NOTIFIED, states.RETIRED):
        return 0
    if job.state in (states.FAILED, states.FAILED_NOTIFIED):
        return 1
    return None


def _owned(user: NodeUser, run_id: str) -> NodeJob | None:
    return NodeJob.objects.filter(pk=run_id, user=user).exclude(state=states.DELETED).first()


def _panel_json(panel: Panel) -> dict[str, Any]:
    return {
        "id": panel.slug,
        "name": panel.name,
        "build": panel.build,
        "populations": [{"id": item["id"], "name": item.get("name") or item["id"]} for item in panel.populations],
        "description": panel.description,
        "samples": panel.samples,
        "variants": panel.variants,
    }


def _page_size(request: HttpRequest) -> int:
    text = request.GET.get("page_size", "")
    return min(max(int(text), 1), MAX_PAGE_SIZE) if text.isdigit() else DEFAULT_PAGE_SIZE


def _token_encode(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _token_decode(token: str) -> str:
    """An opaque token back to its value; a token this node never issued reads as the first page."""
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


def _time(value: Any) -> str | None:
    return value.strftime(_TIME) if value else None
