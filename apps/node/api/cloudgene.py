"""The Cloudgene 3 front (protocols.md §1): /api/v2/... and /share/results/..., JSON shapes as the real server's."""

from __future__ import annotations

import asyncio
import html
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.node import engine, states, tasks
from apps.node.api.common import (
    caller,
    epoch_ms,
    inputs_store,
    json_error,
    open_endpoint,
    signed_in,
    submit_intake,
    user_json,
)
from apps.node.models import NodeJob, NodeUser, OutputFile, Panel, Switches
from apps.node.tokens import token_check

APP_ID = "imputationserver2"
APP_VERSION = "2.0.0"
PAGE_SIZE = 15
SUBMITTED = "Your job was successfully added to the job queue."
DOWNLOAD_CHUNK = 1024 * 1024
_INPUTS = frozenset(
    {"files", "refpanel", "build", "population", "phasing", "mode", "r2Filter", "aesEncryption", "meta", "password"}
    | {"check1", "check2"}
)
_CHECKBOXES = frozenset({"aesEncryption", "meta"})

# X-Auth-Token required: 401 invalid or expired, 403 revoked; maintenance 503 for non-admins
authenticated = signed_in(json_error)
anonymous = open_endpoint(json_error)


@require_GET
@anonymous
def server(request: HttpRequest) -> HttpResponse:
    check = caller(request)
    user = check.user
    switches = Switches.current()
    problem = engine.beagle_problem()
    return JsonResponse(
        {
            "name": "Reference Imputation Node",
            "user": user_json(user),
            "apps": [
                {"id": f"{APP_ID}@{APP_VERSION}", "name": "Genotype Imputation (Beagle 5)", "version": APP_VERSION}
            ]
            if user
            else [],
            "deprecatedApps": [],
            "experimentalApps": [],
            "loggedIn": user is not None,
            # a node that cannot impute shows as in maintenance, with the install hint as the message
            "maintenace": bool(switches.get("maintenance")) or problem is not None,
            "maintenaceMessage": problem or str(switches.get("maintenance_message") or ""),
            "oauth": False,
            "navigation": [],
        }
    )


@require_GET
@anonymous
def app(request: HttpRequest, app_id: str) -> HttpResponse:
    if app_id.split("@")[0] != APP_ID:
        return json_error(404, f"Application '{app_id}' not found.")
    panels = list(Panel.objects.order_by("slug"))
    options = [{"key": key, "value": key} for key in ("hg19", "hg38")]
    return JsonResponse(
        {
            "id": f"{APP_ID}@{APP_VERSION}",
            "name": "Genotype Imputation (Beagle 5)",
            "version": APP_VERSION,
            "description": "Quality control, phasing and imputation with Beagle 5 against the node's panels.",
            "website": "",
            "submitButton": "Submit Job",
            "s3Workspace": False,
            "footer": "",
            "params": [
                {"id": "files", "type": "local_folder", "description": "Input Files (VCF)", "visible": True},
                {
                    "id": "refpanel",
                    "type": "app_list",
                    "description": "Reference Panel",
                    "visible": True,
                    "required": True,
                    "values": [{"key": panel.key, "value": panel.name} for panel in panels],
                },
                {"id": "build", "type": "list", "description": "Array Build", "value": "hg19", "values": options},
                _list("phasing", "Phasing", "eagle", ["eagle", "beagle", "no_phasing"]),
                {
                    "id": "population",
                    "type": "binded_list",
                    "bind": "refpanel",
                    "description": "Population",
                    "values": [
                        {
                            "key": panel.key,
                            "values": [
                                {"key": str(item["id"]), "value": str(item.get("name") or item["id"])}
                                for item in panel.populations
                            ],
                        }
                        for panel in panels
                    ],
                },
                _list("mode", "Mode", "imputation", ["qc_only", "imputation"]),
                _list("r2Filter", "rsq Filter", "0", ["0", "0.001", "0.1", "0.2", "0.3"]),
                {"id": "aesEncryption", "type": "checkbox", "description": "AES 256 encryption", "value": False},
                {"id": "meta", "type": "checkbox", "description": "Generate Meta-imputation file", "value": False},
                {"id": "password", "type": "text", "description": "Password", "visible": False},
            ],
        }
    )


@csrf_exempt
@require_POST
@anonymous
def verify(request: HttpRequest) -> HttpResponse:
    check = token_check(request.POST.get("token", ""), now=engine.now())
    return JsonResponse(
        {
            "valid": check.user is not None,
            "message": check.message,
            "username": check.user.username if check.user else None,
            "expire": check.expires_at.isoformat() if check.expires_at else None,
        }
    )


@csrf_exempt
@require_POST
@authenticated
def submit(request: HttpRequest, user: NodeUser, app_id: str) -> HttpResponse:
    """The multipart submit with Cloudgene's parsing rules (protocols.md §1.4); file parts stream to disk."""
    if app_id.split("@")[0] != APP_ID:
        return json_error(404, f"Application '{app_id}' not found.")
    intake = submit_intake(request, user, error=json_error)
    if isinstance(intake, HttpResponse):
        return intake
    fields, files = intake
    params: dict[str, Any] = {}
    name = ""
    for raw in [*fields.keys(), *files.keys()]:
        key = raw.removeprefix("input-")
        if key == "job-name":
            name = html.escape(fields.get(raw, ""))
        elif key.endswith("-pattern"):
            continue
        elif key not in _INPUTS:
            return json_error(400, f"Parameter '{key}' not found.")
        elif key in _CHECKBOXES:
            params[key] = True  # presence is what counts, whatever the value
        elif key != "files":
            params[key] = fields.get(raw, "")
    password = str(params.pop("password", "") or "")
    params["password_given"] = bool(password)
    for key, default in (("build", "hg19"), ("phasing", "eagle"), ("mode", "imputation"), ("population", "off")):
        params.setdefault(key, default)
    job = engine.job_create(
        user, name=name, params=params, password=password, user_agent=request.headers.get("User-Agent", "")[:300]
    )
    inputs_store(job, [part for raw in files if raw.removeprefix("input-") == "files" for part in files.getlist(raw)])
    tasks.enqueue(job)
    return JsonResponse({"success": True, "message": SUBMITTED, "id": job.id})


@require_GET
@authenticated
def jobs(request: HttpRequest, user: NodeUser) -> HttpResponse:
    rows = list(NodeJob.objects.filter(user=user).exclude(state=states.DELETED))
    page_text = request.GET.get("page")
    if page_text is None:
        return JsonResponse(
            {
                "count": len(rows),
                "page": 1,
                "pageSize": len(rows),
                "prev": None,
                "next": None,
                "pages": [1],
                "data": [job_info(job, details=False) for job in rows],
            }
        )
    page = max(int(page_text) if page_text.isdigit() else 1, 1)
    pages = max(math.ceil(len(rows) / PAGE_SIZE), 1)
    chunk = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return JsonResponse(
        {
            "count": len(rows),
            "page": page,
            "pageSize": PAGE_SIZE,
            "prev": page - 1 if page > 1 else None,
            "next": page + 1 if page < pages else None,
            "pages": list(range(1, pages + 1)),
            "data": [job_info(job, details=False) for job in chunk],
        }
    )


@csrf_exempt
@require_http_methods(["GET", "DELETE"])
@authenticated
def job_detail(request: HttpRequest, user: NodeUser, job_id: str) -> HttpResponse:
    job = _owned(user, job_id)
    if job is None:
        return json_error(404, f"Job {job_id} not found.")
    if request.method == "DELETE":
        return json_error(403, "API tokens cannot delete jobs; sign in to delete them.")
    return JsonResponse(job_info(job))


@require_GET
@authenticated
def job_cancel(request: HttpRequest, user: NodeUser, job_id: str) -> HttpResponse:
    job = _owned(user, job_id)
    if job is None:
        return json_error(404, f"Job {job_id} not found.")
    return JsonResponse(job_info(engine.cancel(job)))


@require_GET
@authenticated
def job_restart(request: HttpRequest, user: NodeUser, job_id: str) -> HttpResponse:
    job = _owned(user, job_id)
    if job is None:
        return json_error(404, f"Job {job_id} not found.")
    if not engine.restart(job):
        return json_error(400, f"Job {job_id} is not pending.")
    tasks.enqueue(job)
    return JsonResponse({"success": True, "message": SUBMITTED, "id": job.id})


@require_GET
@anonymous
def share(request: HttpRequest, file_hash: str, name: str) -> HttpResponseBase:
    """Anonymous: the hash is the capability; each call uses one of the file's downloads. The bytes stream from
    disk in chunks; the fault `reset_download: n` drops the next n downloads halfway."""
    file = OutputFile.objects.select_related("param__job").filter(hash=file_hash, name=name).first()
    if file is None or file.param.job.state in (states.RETIRED, states.DELETED) or not Path(file.path).exists():
        return json_error(404, "File not found.")
    if not engine.download_take(file):
        return json_error(400, "number of max downloads exceeded.")
    dropped = bool(Switches.current().get("reset_download")) and Switches.take("reset_download")
    chunks = file_chunks(Path(file.path), cut_at=max(file.size // 2, 1) if dropped else None)
    response = StreamingHttpResponse(chunks, content_type="application/octet-stream")
    response["Content-Length"] = str(file.size)
    response["Content-Disposition"] = f'attachment; filename="{Path(name).name}"'
    return response


async def file_chunks(path: Path, *, cut_at: int | None = None) -> AsyncIterator[bytes]:
    """A file in chunks read off the event loop (bounded memory); with `cut_at`, the connection drops after that
    many bytes, as a reset mid-download looks to a client."""
    sent = 0
    with path.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, DOWNLOAD_CHUNK):
            if cut_at is not None and sent + len(chunk) >= cut_at:
                yield chunk[: cut_at - sent]
                raise ConnectionResetError("injected: the connection was reset mid-download")
            sent += len(chunk)
            yield chunk


def job_info(job: NodeJob, *, details: bool = True) -> dict[str, Any]:
    queued = list(
        NodeJob.objects.filter(state=states.WAITING).order_by("submitted_on", "id").values_list("id", flat=True)
    )
    info: dict[str, Any] = {
        "id": job.id,
        "name": job.name,
        "application": "Genotype Imputation (Beagle 5)",
        "applicationId": f"{APP_ID}@{APP_VERSION}",
        "state": job.state,
        "positionInQueue": queued.index(job.id) + 1 if job.id in queued else -1,
        "submittedOn": epoch_ms(job.submitted_on),
        "startTime": epoch_ms(job.start_time),
        "endTime": epoch_ms(job.end_time),
        "deletedOn": epoch_ms(job.deleted_on),
        "currentTime": epoch_ms(engine.now()),
        "userAgent": job.user_agent,
        "username": job.user.username,
        "workspaceSize": "",
        "logs": "",
        "steps": [],
        "outputParams": [],
    }
    if details:
        info["steps"] = [
            {
                "id": step.pk,
                "name": step.name,
                "empty": False,
                "logMessages": [
                    {"message": message.message, "time": epoch_ms(message.time), "type": message.type}
                    for message in step.messages.all()
                ],
            }
            for step in job.steps.prefetch_related("messages")
        ]
        info["outputParams"] = [
            {
                "id": param.param_id,
                "name": param.name,
                "description": param.name,
                "value": "",
                "download": True,
                "hash": param.hash,
                "tree": [],
                "files": [
                    {
                        "name": file.name,
                        "path": f"{job.id}/{file.name}",
                        "hash": file.hash,
                        "size": size_label(file.size),
                        "count": file.count,
                    }
                    for file in param.files.all()
                ],
            }
            for param in job.output_params.prefetch_related("files")
        ]
    return info


def size_label(size: int) -> str:
    """Cloudgene's human size string ("314 MB")."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _owned(user: NodeUser, job_id: str) -> NodeJob | None:
    return NodeJob.objects.filter(pk=job_id, user=user).exclude(state=states.DELETED).first()


def _list(param_id: str, description: str, value: str, keys: list[str]) -> dict[str, Any]:
    return {
        "id": param_id,
        "type": "list",
        "description": description,
        "value": value,
        "visible": True,
        "values": [{"key": key, "value": key} for key in keys],
    }
