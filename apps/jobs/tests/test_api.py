"""The jobs API: specific validation errors, idempotency, visibility (404 for others), cancel/retry rules, batches,
templates and schedules. The orchestration is not started here (`kicks` records what would have been)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.jobs.models import DB, ImputationJob, JobBatch, JobStatusUpdate, OutboxEvent, ScheduledJob
from apps.jobs.services.schedules import schedules_run
from apps.jobs.tests.stubs import FilesStub, RegistryStub, UsersStub
from tests.gateway.conftest import access_token

pytestmark = [pytest.mark.django_db(databases=[DB]), pytest.mark.redis]


@pytest.fixture(autouse=True)
def kicks(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    started: list[object] = []
    monkeypatch.setattr("apps.jobs.services.jobs.job_kick", lambda *, job_id: started.append(job_id))
    return started


class Api:
    def __init__(self, users: UsersStub, role: str = "researcher") -> None:
        self.user_id = users.user(role)
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {access_token(self.user_id, role=role)}")

    def get(self, path: str) -> tuple[int, Any]:
        response = self.client.get(path)
        return response.status_code, response.json()

    def post(self, path: str, body: dict[str, Any] | None = None, **headers: str) -> tuple[int, Any]:
        response = self.client.post(path, json.dumps(body or {}), content_type="application/json", headers=headers)
        return response.status_code, (response.json() if response.content else None)


@pytest.fixture
def setup(users: UsersStub, registry: RegistryStub, files: FilesStub) -> dict[str, Any]:
    service = registry.service_add(
        api_type="cloudgene",
        base_url="http://127.0.0.1:9",
        name="Michigan",
        slug="mis",
        min_samples=20,
        max_samples=500,
    )
    panel = registry.panel_add(service, slug="apps@1000g-phase-3-v5@2.0.0", name="1000G Phase 3")
    alice = Api(users)
    upload = files.input_add(alice.user_id)
    body = {
        "name": "chr20",
        "service": "mis",
        "reference_panel": panel.id,
        "input_files": [upload.id],
        "build": "hg19",
        "population": "eur",
    }
    return {"service": service, "panel": panel, "alice": alice, "upload": upload, "body": body}


def test_create_answers_the_contract_shape_and_starts_the_job(
    setup: dict[str, Any], kicks: list[object], django_capture_on_commit_callbacks: Any
) -> None:
    alice, body = setup["alice"], setup["body"]
    with django_capture_on_commit_callbacks(using=DB, execute=True):
        status, job = alice.post("/api/jobs/", body)
    assert status == 201, job
    assert job["status"] == "queued" and job["stage"] == "queued" and job["progress"] == 0
    assert job["service"] == {"id": setup["service"].id, "name": "Michigan", "slug": "mis"}
    assert job["reference_panel"]["slug"] == "apps@1000g-phase-3-v5@2.0.0"
    assert job["user_id"] == alice.user_id and job["input_files"] == [setup["upload"].id]
    assert job["error"] is None and job["result_files"] == [] and job["external_job_id"] is None
    assert "password" not in json.dumps(job)
    assert [str(k) for k in kicks] == [job["id"]]
    history = alice.get(f"/api/jobs/{job['id']}/status/")[1]["results"]
    assert [(row["status"], row["message"]) for row in history] == [
        ("pending", "Job created."),
        ("queued", "Waiting to be submitted."),
    ]
    audit = OutboxEvent.objects.using(DB).get(topic="user.action.logged")
    assert audit.payload["action"] == "job_created" and audit.payload["actor_id"] == alice.user_id


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"service": "nowhere"}, "service", "There is no service 'nowhere'."),
        ({"reference_panel": "hrc"}, "reference_panel", "Michigan has no reference panel 'hrc'."),
        ({"population": "sas"}, "population", "choose one of eur, afr, mixed, off"),
        ({"input_files": [999999]}, "input_files", "There is no input file 999999 of yours."),
        ({"build": "hg18"}, "build", "is not a valid choice"),
        ({"r2_filter": 2}, "r2_filter", "less than or equal to 1"),
    ],
)
def test_bad_requests_name_the_field_and_what_to_fix(
    setup: dict[str, Any], change: dict[str, Any], field: str, text: str
) -> None:
    status, body = setup["alice"].post("/api/jobs/", {**setup["body"], **change})
    assert status == 400
    assert text in json.dumps(body["error"]["details"][field])
    assert ImputationJob.objects.using(DB).count() == 0


def test_a_file_of_the_wrong_build_or_too_few_samples_is_refused_before_anything_is_written(
    setup: dict[str, Any], files: FilesStub
) -> None:
    alice = setup["alice"]
    hg38 = files.input_add(
        alice.user_id,
        report={"detected_build": "hg38", "build_evidence": "chr20 length 64444167", "samples": 5, "problems": []},
    )
    status, body = alice.post("/api/jobs/", {**setup["body"], "input_files": [hg38.id]})
    assert status == 400
    message = body["error"]["details"]["input_files"][0]
    assert "looks like hg38 (chr20 length 64444167) but the job asks for hg19" in message
    assert "has 5 samples; Michigan needs at least 20" in message


def test_another_users_file_is_not_found(setup: dict[str, Any], users: UsersStub, files: FilesStub) -> None:
    bob = Api(users)
    status, body = bob.post("/api/jobs/", setup["body"])
    assert status == 400 and "no input file" in body["error"]["details"]["input_files"][0]


def test_a_file_still_validating_makes_a_pending_job(
    setup: dict[str, Any], files: FilesStub, kicks: list[object]
) -> None:
    alice = setup["alice"]
    upload = files.input_add(alice.user_id, status="validating")
    status, job = alice.post("/api/jobs/", {**setup["body"], "input_files": [upload.id]})
    assert status == 201 and job["status"] == "pending"
    assert "pre-flight" in job["message"] and kicks == []
    # when the verdict arrives
    from apps.jobs.services.jobs import job_inputs_judged

    files.judge(upload.id, status="ready")
    assert job_inputs_judged(file_id=upload.id, owner_id=alice.user_id) == 1
    assert ImputationJob.objects.using(DB).get(pk=job["id"]).status == "queued"


def test_a_rejected_file_fails_the_pending_job_with_the_reason(setup: dict[str, Any], files: FilesStub) -> None:
    alice = setup["alice"]
    upload = files.input_add(alice.user_id, status="validating")
    job = alice.post("/api/jobs/", {**setup["body"], "input_files": [upload.id]})[1]
    files.judge(
        upload.id,
        status="rejected",
        report={
            "problems": [
                {
                    "severity": "error",
                    "code": "not_bgzf",
                    "message": "The file is plain gzip; recompress it with bgzip.",
                }
            ]
        },
    )
    from apps.jobs.services.jobs import job_inputs_judged

    job_inputs_judged(file_id=upload.id, owner_id=alice.user_id)
    detail = alice.get(f"/api/jobs/{job['id']}/")[1]
    assert detail["status"] == "failed"
    assert detail["error"] == {
        "category": "input",
        "message": (
            "Input file 'chr20.vcf.gz' was rejected by the pre-flight checks: "
            "The file is plain gzip; recompress it with bgzip."
        ),
    }


def test_the_same_idempotency_key_makes_one_job(setup: dict[str, Any]) -> None:
    alice = setup["alice"]
    first = alice.post("/api/jobs/", setup["body"], **{"Idempotency-Key": "click-1"})
    second = alice.post("/api/jobs/", setup["body"], **{"Idempotency-Key": "click-1"})
    assert (first[0], second[0]) == (201, 200) and first[1]["id"] == second[1]["id"]
    assert ImputationJob.objects.using(DB).count() == 1


def test_no_permission_on_the_service_is_403(setup: dict[str, Any], users: UsersStub, files: FilesStub) -> None:
    viewer = Api(users, role="viewer")
    upload = files.input_add(viewer.user_id)
    status, body = viewer.post("/api/jobs/", {**setup["body"], "input_files": [upload.id]})
    assert status == 403 and body["error"]["code"] == "AUTHORIZATION_ERROR"
    assert "You may not submit jobs to Michigan" in body["error"]["message"]


def test_the_monthly_quota_is_enforced(setup: dict[str, Any], users: UsersStub) -> None:
    users.monthly_jobs = 1
    alice = setup["alice"]
    assert alice.post("/api/jobs/", setup["body"])[0] == 201
    status, body = alice.post("/api/jobs/", setup["body"])
    assert status == 409 and body["error"]["code"] == "CONFLICT"
    assert "Your quota is 1 jobs a month" in body["error"]["message"]


def test_others_see_404_and_admins_see_all(setup: dict[str, Any], users: UsersStub) -> None:
    alice = setup["alice"]
    job = alice.post("/api/jobs/", setup["body"])[1]
    bob, admin = Api(users), Api(users, role="admin")
    for path in ("", "status/", "logs/"):
        status, body = bob.get(f"/api/jobs/{job['id']}/{path}")
        assert status == 404 and body["error"]["code"] == "NOT_FOUND"
    assert bob.post(f"/api/jobs/{job['id']}/cancel/")[0] == 404
    assert bob.get("/api/jobs/")[1]["count"] == 0
    assert bob.get("/api/jobs/not-a-uuid/")[0] == 404
    assert admin.get(f"/api/jobs/{job['id']}/")[1]["id"] == job["id"]
    assert [j["id"] for j in admin.get("/api/jobs/")[1]["results"]] == [job["id"]]


def test_a_service_admin_without_manage_jobs_may_see_but_not_cancel(setup: dict[str, Any], users: UsersStub) -> None:
    job = setup["alice"].post("/api/jobs/", setup["body"])[1]
    service_admin = Api(users, role="service_admin")
    assert service_admin.get(f"/api/jobs/{job['id']}/")[0] == 200
    status, body = service_admin.post(f"/api/jobs/{job['id']}/cancel/")
    assert status == 403 and "another user's" in body["error"]["message"]


def test_list_filters_by_status_and_search(setup: dict[str, Any]) -> None:
    alice = setup["alice"]
    alice.post("/api/jobs/", setup["body"])
    alice.post("/api/jobs/", {**setup["body"], "name": "chr22 panel test"})
    assert [j["name"] for j in alice.get("/api/jobs/?search=chr22")[1]["results"]] == ["chr22 panel test"]
    assert alice.get("/api/jobs/?status=completed")[1]["count"] == 0
    assert alice.get("/api/jobs/?status=queued")[1]["count"] == 2
    status, body = alice.get("/api/jobs/?status=done")
    assert status == 400 and "status must be one of" in body["error"]["message"]


def test_cancel_a_queued_job_then_retry_it_as_a_new_attempt(setup: dict[str, Any]) -> None:
    alice = setup["alice"]
    job = alice.post("/api/jobs/", setup["body"])[1]
    status, cancelled = alice.post(f"/api/jobs/{job['id']}/cancel/")
    assert status == 200 and cancelled["status"] == "cancelled"
    status, again = alice.post(f"/api/jobs/{job['id']}/cancel/")
    assert status == 409 and "already cancelled" in again["error"]["message"]
    status, retry = alice.post(f"/api/jobs/{job['id']}/retry/")
    assert status == 201 and retry["id"] != job["id"]
    assert retry["attempt"] == 2 and retry["retry_of"] == job["id"] and retry["status"] == "queued"
    assert alice.get(f"/api/jobs/{job['id']}/")[1]["status"] == "cancelled"  # the old one keeps its history
    status, body = alice.post(f"/api/jobs/{retry['id']}/retry/")
    assert status == 409 and "Only a failed or cancelled job" in body["error"]["message"]


def test_a_batch_is_a_parent_with_one_child_per_target_and_an_aggregated_status(
    setup: dict[str, Any], registry: RegistryStub
) -> None:
    alice = setup["alice"]
    other = registry.service_add(api_type="wes", base_url="http://127.0.0.1:9/ga4gh/wes/v1", name="eLwazi")
    other_panel = registry.panel_add(other, slug="h3africa-v6")
    body = {
        **setup["body"],
        "targets": [
            {"service": str(setup["service"].id), "reference_panel": str(setup["panel"].id)},
            {"service": str(other.id), "reference_panel": "h3africa-v6"},
        ],
    }
    del body["service"], body["reference_panel"]
    status, parent = alice.post("/api/jobs/batch/", body)
    assert status == 201 and parent["is_batch"] and parent["service"] is None
    detail = alice.get(f"/api/jobs/{parent['id']}/")[1]
    assert [child["service"]["name"] for child in detail["children"]] == ["Michigan", "eLwazi"]
    assert JobBatch.objects.using(DB).get(parent_id=parent["id"]).targets[1] == {
        "service": other.id,
        "reference_panel": other_panel.id,
    }
    # when one child fails and the other is cancelled, the batch fails and says how many completed
    from apps.jobs.services.transitions import job_transition

    first, second = ImputationJob.objects.using(DB).filter(parent_id=parent["id"]).order_by("created_at")
    job_transition(first, stage=first.stage, status="failed", failure_category="qc", message="strand flips")
    job_transition(second, stage=second.stage, status="cancelled", message="stop")
    detail = alice.get(f"/api/jobs/{parent['id']}/")[1]
    assert detail["status"] == "failed" and detail["error"]["message"] == "0 of 2 targets completed."
    assert JobStatusUpdate.objects.using(DB).filter(job_id=parent["id"]).count() >= 3


def test_templates_fill_in_a_job_and_refuse_unknown_fields(setup: dict[str, Any], users: UsersStub) -> None:
    alice = setup["alice"]
    status, template = alice.post(
        "/api/templates/",
        {
            "name": "MIS EUR",
            "params": {"service": "mis", "reference_panel": setup["panel"].id, "population": "eur", "build": "hg19"},
        },
    )
    assert status == 201 and template["params"]["population"] == "eur"
    status, bad = alice.post(
        "/api/templates/", {"name": "x", "params": {"service": "mis", "reference_panel": 1, "input_files": [1]}}
    )
    assert status == 400 and "Unknown template fields: input_files" in bad["error"]["message"]
    status, job = alice.post(
        "/api/jobs/", {"name": "from template", "template": template["id"], "input_files": [setup["upload"].id]}
    )
    assert status == 201 and job["population"] == "eur" and job["service"]["slug"] == "mis"
    assert Api(users).get(f"/api/templates/{template['id']}/")[0] == 404


def test_a_schedule_submits_when_due_once_per_run_and_stops_after_max_runs(setup: dict[str, Any]) -> None:
    alice = setup["alice"]
    params = {key: value for key, value in setup["body"].items() if key != "name"}
    start = timezone.now() - timedelta(minutes=1)
    status, schedule = alice.post(
        "/api/scheduled/",
        {"name": "nightly", "params": params, "recurrence": "daily", "next_run_at": start.isoformat(), "max_runs": 2},
    )
    assert status == 201, schedule
    assert schedules_run() == 1 and schedules_run() == 0  # the second beat finds nothing due
    row = ScheduledJob.objects.using(DB).get(pk=schedule["id"])
    assert row.runs == 1 and row.next_run_at is not None and row.next_run_at > timezone.now()
    assert ImputationJob.objects.using(DB).filter(name="nightly").count() == 1
    assert schedules_run(now=row.next_run_at + timedelta(seconds=1)) == 1
    row.refresh_from_db()
    assert (row.runs, row.is_active, row.next_run_at) == (2, False, None)


def test_a_schedule_with_a_bad_cron_is_refused(setup: dict[str, Any]) -> None:
    params = {key: value for key, value in setup["body"].items() if key != "name"}
    status, body = setup["alice"].post(
        "/api/scheduled/",
        {"name": "bad", "params": params, "recurrence": "cron", "cron": "every day", "next_run_at": None},
    )
    assert status == 400
    status, body = setup["alice"].post(
        "/api/scheduled/",
        {
            "name": "bad",
            "params": params,
            "recurrence": "cron",
            "cron": "61 * * * *",
            "next_run_at": timezone.now().isoformat(),
        },
    )
    assert status == 400 and "is not a cron expression" in body["error"]["message"]
