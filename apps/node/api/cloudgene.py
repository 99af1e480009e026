"""The Cloudgene 3 front (protocols.md §1): /api/v2/... and /share/results/..., JSON shapes as the real server's."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.node import engine, states, tasks
from apps.node.api.common import (
    MAINTENANCE_MESSAGE,
    CappedUpload,
    caller,
    epoch_ms,
    injected_fault,
    json_error,
    user_json,
)
from apps.node.models import NodeJob, NodeUser, OutputFile, Panel, Switches

APP_ID = "imputationserver2"
APP_VERSION = "2.0.0"
PAGE_SIZE = 15
SUBMITTED = "Your job was successfully added to the job queue."
_INPUTS = frozenset(
    {"files", "refpanel", "build", "population", "phasing", "mode", "r2Filter", "aesEncryption", "meta", "password"}
    | {"check1", "check2"}
)
_CHECKBOXES = frozenset({"aesEncryption", "meta"})
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")

View = Callable[..., HttpResponse]


def authenticated(view: Callable[..., HttpResponse]) -> View:
    """X-Auth-Token required: 401 invalid or expired, 403 revoked; maintenance 503 for non-admins."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        fault = injected_fault(request, error=json_error)
        if fault is not None:
            return fault
        check = caller(request)
        if check.user is None:
            return json_error(check.status, check.message)
        if Switches.current().get("maintenance") and not check.user.admin:
            return json_error(503, MAINTENANCE_MESSAGE)
        return view(request, check.user, *args, **kwargs)

    return wrapper


@require_GET
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
def verify(request: HttpRequest) -> HttpResponse:
    from apps.node.tokens import token_check

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
def submit(request: HttpRequest, app_id: str) -> HttpResponse:
    """The multipart submit with Cloudgene's parsing rules (protocols.md §1.4); file parts stream to disk."""
    fault = injected_fault(request, error=json_error)
    if fault is not None:
        return fault
    check = caller(request)
    user = check.user
    if user is None:
        return json_error(check.status, check.message)
    if Switches.current().get("maintenance") and not user.admin:
        return json_error(503, MAINTENANCE_MESSAGE)
    if app_id.split("@")[0] != APP_ID:
        return json_error(404, f"Application '{app_id}' not found.")
    limit = settings.NODE_UPLOAD_LIMIT_MB * 1024 * 1024
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
        return json_error(413, f"The upload exceeds the limit of {settings.NODE_UPLOAD_LIMIT_MB} MB.")
    problem = engine.beagle_problem()
    if problem:
        return json_error(400, f"This node cannot run jobs: {problem}")
    running = engine.active_jobs(user)
    if running >= settings.NODE_MAX_JOBS_PER_USER:
        return json_error(400, f"Only {settings.NODE_MAX_JOBS_PER_USER} jobs per user can be executed simultaneously.")
    handler = CappedUpload(request, limit=limit)
    request.upload_handlers = [handler]
    fields, files = request.POST, request.FILES
    if handler.exceeded:
        return json_error(413, f"The upload exceeds the limit of {settings.NODE_UPLOAD_LIMIT_MB} MB.")
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
    for raw in files:
        for upload in files.getlist(raw):
            base = Path(upload.name or "").name
            if raw.removeprefix("input-") != "files" or not base.endswith(".vcf.gz"):
                continue  # the pipeline only globs *.vcf.gz
            with (Path(job.workspace) / "input" / _SAFE_NAME.sub("_", base)).open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
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
def share(request: HttpRequest, file_hash: str, name: str) -> HttpResponseBase:
    """Anonymous: the hash is the capability; each call uses one of the file's downloads."""
    fault = injected_fault(request, error=json_error)
    if fault is not None:
        return fault
    file = OutputFile.objects.select_related("param__job").filter(hash=file_hash, name=name).first()
    if file is None or file.param.job.state in (states.RETIRED, states.DELETED) or not Path(file.path).exists():
        return json_error(404, "File not found.")
    if not engine.download_take(file):
        return json_error(400, "number of max downloads exceeded.")
    if Switches.current().get("reset_download"):
        return _broken_stream(Path(file.path), file.size)
    # FileResponse closes the file when the response is done
    return FileResponse(Path(file.path).open("rb"), as_attachment=True, filename=Path(name).name)


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


def _broken_stream(path: Path, size: int) -> StreamingHttpResponse:
    """A connection reset mid-download: half the bytes of a response that promised all of them."""

    def body() -> Iterator[bytes]:
        with path.open("rb") as handle:
            yield handle.read(max(size // 2, 1))
        raise ConnectionResetError("injected reset mid-download")

    response = StreamingHttpResponse(body(), content_type="application/octet-stream")
    response["Content-Length"] = str(size)
    return response
