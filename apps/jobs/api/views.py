"""The jobs API (API_CONTRACT.md "jobs context"): jobs, batches, history, logs, cancel/retry, templates, schedules.

Owners see and act on their own jobs; roles with view_all_jobs (admin, service_admin) see everyone's, and act on
another user's job when they may manage jobs on its service. A job the caller may not see answers 404, exactly
like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.jobs.api.bodies import history_bodies, job_bodies, job_body, log_bodies, schedule_body, template_body
from apps.jobs.models import DB, ImputationJob, JobTemplate, Mode, Phasing, Recurrence, ScheduledJob, Status
from apps.jobs.selectors.jobs import Viewer, job_get, job_history, job_list, job_logs, viewer_of
from apps.jobs.services.jobs import (
    Actor,
    JobForbiddenError,
    JobRequest,
    batch_create,
    job_cancel,
    job_create,
    job_retry,
)
from apps.jobs.services.schedules import (
    REQUEST_FIELDS,
    cron_check,
    job_request_of,
    next_run,
    template_params_check,
)
from apps.kernel.errors import ApplicationError, NotFoundError
from apps.kernel.pagination import paginated_response
from apps.users.public import get_users_service

IDEMPOTENCY_KEY_MAX = 200


def _user_id(request: Request) -> int:
    """The caller's id from the access token (IsAuthenticated ran first, so there is one)."""
    return int(str(request.user.pk))


def _viewer(request: Request) -> Viewer:
    user = request.user
    return viewer_of(user_id=_user_id(request), role=str(getattr(user, "role", "")), is_staff=bool(user.is_staff))


def _actor(request: Request) -> Actor:
    return Actor(
        id=_user_id(request),
        ip=request.META.get("REMOTE_ADDR", ""),
        user_agent=request.headers.get("User-Agent", "")[:300],
    )


def _job_or_404(request: Request, job_id: str) -> ImputationJob:
    job = job_get(viewer=_viewer(request), job_id=job_id)
    if job is None:
        raise NotFoundError("No such job.")
    return job


def _may_act(request: Request, job: ImputationJob) -> None:
    """The owner acts on their job; an admin on any; a service admin where they may manage jobs."""
    viewer = _viewer(request)
    if job.owner_id == viewer.user_id or viewer.is_admin:
        return
    if job.service_id is not None and get_users_service().service_permission_has(
        user_id=viewer.user_id, service_id=job.service_id, permission="manage_jobs"
    ):
        return
    raise JobForbiddenError("You may see this job but not change it: it is another user's.")


class JobFields(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    input_files = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False)
    build = serializers.ChoiceField(choices=["hg19", "hg38"], default="hg19")
    phasing = serializers.ChoiceField(choices=Phasing.values, default=Phasing.EAGLE)
    population = serializers.CharField(max_length=50, default="off")
    mode = serializers.ChoiceField(choices=Mode.values, default=Mode.IMPUTATION)
    r2_filter = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.0)
    input_format = serializers.CharField(max_length=20, default="vcf.gz")
    template = serializers.IntegerField(required=False, min_value=1)


class JobCreateFields(JobFields):
    service = serializers.CharField(max_length=100)
    reference_panel = serializers.CharField(max_length=200)


class TargetFields(serializers.Serializer[Any]):
    service = serializers.CharField(max_length=100)
    reference_panel = serializers.CharField(max_length=200)


class BatchCreateFields(JobFields):
    targets = serializers.ListField(child=TargetFields(), allow_empty=False, max_length=20)


def _ref(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _body_with_template(request: Request) -> dict[str, Any]:
    """The request body over the settings of the template it names (the body wins)."""
    body = dict(request.data)
    template_id = str(body.get("template") or "")
    if not template_id:
        return body
    if not template_id.isdigit():
        raise ApplicationError("template must be a template id.", details={"template": ["Use the numeric id."]})
    template = JobTemplate.objects.using(DB).filter(pk=int(template_id), owner_id=_user_id(request)).first()
    if template is None:
        raise ApplicationError("There is no such template of yours.", details={"template": ["Not found."]})
    return {**template.params, **body}


def _request_of(data: dict[str, Any]) -> JobRequest:
    return JobRequest(
        name=data["name"],
        description=data["description"],
        service=_ref(str(data.get("service", "0"))),
        reference_panel=_ref(str(data.get("reference_panel", "0"))),
        input_files=tuple(data["input_files"]),
        build=data["build"],
        phasing=data["phasing"],
        population=data["population"],
        mode=data["mode"],
        r2_filter=data["r2_filter"],
        input_format=data["input_format"],
    )


def _idempotency_key(request: Request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise ApplicationError(f"The Idempotency-Key header is longer than {IDEMPOTENCY_KEY_MAX} characters.")
    return key


class JobListApi(APIView):
    def get(self, request: Request) -> Response:
        params = request.query_params
        status_filter = params.get("status") or None
        if status_filter and status_filter not in Status.values:
            raise ApplicationError(
                f"status must be one of {', '.join(Status.values)}.", details={"status": ["Unknown status."]}
            )
        service = params.get("service") or None
        if service is not None and not service.isdigit():
            raise ApplicationError("service must be a service id.", details={"service": ["Use the numeric id."]})
        jobs = job_list(
            viewer=_viewer(request),
            status=status_filter,
            service_id=int(service) if service else None,
            search=params.get("search", "")[:100],
            created_after=_when(params.get("created_after"), "created_after"),
            created_before=_when(params.get("created_before"), "created_before"),
            parent_id=params.get("parent") or None,
            ordering=params.get("ordering", "-created_at"),
        )
        return paginated_response(items=jobs, render=job_bodies, request=request, view=self)

    def post(self, request: Request) -> Response:
        fields = JobCreateFields(data=_body_with_template(request))
        fields.is_valid(raise_exception=True)
        job, created = job_create(
            actor=_actor(request), request=_request_of(fields.validated_data), idempotency_key=_idempotency_key(request)
        )
        return Response(job_body(job), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class JobBatchApi(APIView):
    def post(self, request: Request) -> Response:
        fields = BatchCreateFields(data=_body_with_template(request))
        fields.is_valid(raise_exception=True)
        data = fields.validated_data
        parent, created = batch_create(
            actor=_actor(request),
            request=_request_of(data),
            targets=[(_ref(t["service"]), _ref(t["reference_panel"])) for t in data["targets"]],
            idempotency_key=_idempotency_key(request),
        )
        return Response(job_body(parent), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class JobDetailApi(APIView):
    def get(self, request: Request, job_id: str) -> Response:
        return Response(job_body(_job_or_404(request, job_id), detail=True))


class JobStatusApi(APIView):
    def get(self, request: Request, job_id: str) -> Response:
        job = _job_or_404(request, job_id)
        return paginated_response(items=job_history(job), render=history_bodies, request=request, view=self)


class JobLogsApi(APIView):
    def get(self, request: Request, job_id: str) -> Response:
        job = _job_or_404(request, job_id)
        return paginated_response(items=job_logs(job), render=log_bodies, request=request, view=self)


class JobCancelApi(APIView):
    def post(self, request: Request, job_id: str) -> Response:
        job = _job_or_404(request, job_id)
        _may_act(request, job)
        return Response(job_body(job_cancel(job=job, actor=_actor(request)), detail=True))


class JobRetryApi(APIView):
    def post(self, request: Request, job_id: str) -> Response:
        job = _job_or_404(request, job_id)
        _may_act(request, job)
        return Response(
            job_body(job_retry(job=job, actor=_actor(request)), detail=True), status=status.HTTP_201_CREATED
        )


def _when(raw: str | None, name: str) -> Any:
    if not raw:
        return None
    value = parse_datetime(raw)
    if value is None:
        raise ApplicationError(f"{name} must be an ISO 8601 date-time.", details={name: ["Not a date-time."]})
    return value


# --- templates and scheduled submissions: the caller's own objects, CRUD ------------------------------------


class OwnedListApi(APIView):
    """List and create the caller's own objects of `model` (templates, schedules)."""

    model: type[JobTemplate] | type[ScheduledJob]
    fields: type[serializers.Serializer[Any]]
    ordering: tuple[str, ...]
    render: Callable[[Any], dict[str, Any]]
    save: Callable[[Request, Any, dict[str, Any]], Any]

    def get(self, request: Request) -> Response:
        items = self.model.objects.using(DB).filter(owner_id=_user_id(request)).order_by(*self.ordering)
        return paginated_response(
            items=items, render=lambda page: [self.render(item) for item in page], request=request, view=self
        )

    def post(self, request: Request) -> Response:
        fields = self.fields(data=request.data)
        fields.is_valid(raise_exception=True)
        item = self.save(request, self.model(owner_id=_user_id(request)), dict(fields.validated_data))
        return Response(self.render(item), status=status.HTTP_201_CREATED)


class OwnedDetailApi(OwnedListApi):
    """Read, change and delete one of the caller's own objects; anyone else's is 404."""

    def get(self, request: Request, pk: int) -> Response:  # type: ignore[override]
        return Response(self.render(_own(request, self.model, pk)))

    def patch(self, request: Request, pk: int) -> Response:
        fields = self.fields(data=request.data, partial=True)
        fields.is_valid(raise_exception=True)
        return Response(self.render(self.save(request, _own(request, self.model, pk), dict(fields.validated_data))))

    def delete(self, request: Request, pk: int) -> Response:
        _own(request, self.model, pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


def _own(request: Request, model: type[JobTemplate] | type[ScheduledJob], pk: int) -> Any:
    item = model.objects.using(DB).filter(pk=pk, owner_id=_user_id(request)).first()
    if item is None:
        raise NotFoundError(f"No such {model._meta.verbose_name}.")
    return item


class TemplateFields(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    params = serializers.DictField()


def _template_save(request: Request, template: JobTemplate, data: dict[str, Any]) -> JobTemplate:
    template.name = data.get("name", template.name)
    template.description = data.get("description", template.description)
    if "params" in data:
        template.params = template_params_check(dict(data["params"]))
    clash = JobTemplate.objects.using(DB).filter(owner_id=template.owner_id, name=template.name)
    if clash.exclude(pk=template.pk).exists():
        raise ApplicationError("You already have a template of that name.", details={"name": ["Already used."]})
    template.save(using=DB)
    return template


class ScheduleFields(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    params = serializers.DictField()
    template = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    recurrence = serializers.ChoiceField(choices=Recurrence.values, default=Recurrence.ONCE)
    cron = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    next_run_at = serializers.DateTimeField(allow_null=True)
    max_runs = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    is_active = serializers.BooleanField(default=True)


def _schedule_save(request: Request, schedule: ScheduledJob, data: dict[str, Any]) -> ScheduledJob:
    for name in ("name", "recurrence", "cron", "next_run_at", "max_runs", "is_active"):
        if name in data:
            setattr(schedule, name, data[name])
    if "template" in data:
        schedule.template = _own(request, JobTemplate, data["template"]) if data["template"] else None
    if "params" in data:
        unknown = sorted(set(data["params"]) - set(REQUEST_FIELDS))
        if unknown:
            raise ApplicationError(f"Unknown job fields: {', '.join(unknown)}.", details={"params": unknown})
        schedule.params = dict(data["params"])
    merged = {**(schedule.template.params if schedule.template else {}), **schedule.params}
    job_request_of({"name": schedule.name, **merged})  # every field a job needs is there, with the right types
    if schedule.recurrence == Recurrence.CRON:
        cron_check(schedule.cron)
    if schedule.next_run_at is None:
        if schedule.recurrence != Recurrence.CRON:
            raise ApplicationError("next_run_at is required.", details={"next_run_at": ["When should it run?"]})
        schedule.next_run_at = next_run(recurrence=schedule.recurrence, cron=schedule.cron, after=timezone.now())
    schedule.save(using=DB)
    return schedule


class TemplateListApi(OwnedListApi):
    model, fields, ordering = JobTemplate, TemplateFields, ("name", "id")
    render, save = staticmethod(template_body), staticmethod(_template_save)


class TemplateDetailApi(OwnedDetailApi):
    model, fields, ordering = JobTemplate, TemplateFields, ("name", "id")
    render, save = staticmethod(template_body), staticmethod(_template_save)


class ScheduleListApi(OwnedListApi):
    model, fields, ordering = ScheduledJob, ScheduleFields, ("next_run_at", "id")
    render, save = staticmethod(schedule_body), staticmethod(_schedule_save)


class ScheduleDetailApi(OwnedDetailApi):
    model, fields, ordering = ScheduledJob, ScheduleFields, ("next_run_at", "id")
    render, save = staticmethod(schedule_body), staticmethod(_schedule_save)
