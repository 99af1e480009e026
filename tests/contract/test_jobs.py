"""API_CONTRACT.md "jobs context": the same requests against every target, with the real users, registry and files.

Targets: `app` (every context in-process behind the gateway middleware) and `remote` (a real gateway routing to
real users, registry, files and jobs deployables; the jobs deployable asks the others over internal HTTP). Each
test registers a service on the recorded Cloudgene server, syncs its panels, uploads a simulated chr20 VCF and
waits for its pre-flight verdict, all through the API. Nothing is submitted (no worker takes the jobs queue).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from apps.connectors.tests.recorded_server import RecordedServer
from apps.genomics.simulate import vcf_simulate
from tests.contract.fixtures import FilesApi

pytestmark = [pytest.mark.django_db(databases=["users", "registry", "files", "jobs"]), pytest.mark.redis]

JOB_KEYS = {
    "id",
    "name",
    "description",
    "user_id",
    "service",
    "reference_panel",
    "parent_id",
    "is_batch",
    "status",
    "stage",
    "progress",
    "message",
    "queue_position",
    "external_job_id",
    "build",
    "phasing",
    "population",
    "mode",
    "r2_filter",
    "input_format",
    "input_files",
    "result_files",
    "error",
    "auth_paused",
    "auth_message",
    "cancel_requested",
    "attempt",
    "retry_of",
    "created_at",
    "started_at",
    "completed_at",
    "duration_seconds",
    "retire_at",
}
DETAIL_KEYS = JOB_KEYS | {"qc_summary", "remote_state"}


@dataclass
class World:
    api: FilesApi
    token: str
    user_id: int
    service: dict[str, Any]
    panel: dict[str, Any]
    file_id: int

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = None, **headers: str) -> Any:
        return self.api.users.call(method, path, body, token=token or self.token, **headers)

    def job_body(self, **changes: Any) -> dict[str, Any]:
        return {
            "name": "chr20 imputation",
            "service": self.service["slug"],
            "reference_panel": self.panel["id"],
            "input_files": [self.file_id],
            "build": "hg19",
            **changes,
        }


@pytest.fixture(scope="module")
def chr20(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path: Path = tmp_path_factory.mktemp("vcf") / "chr20.vcf.gz"
    vcf_simulate(path, samples=30, length=2_000_000, chromosome="20", build="hg19", seed=7)
    return path.read_bytes()


@pytest.fixture
def world(jobs_api: FilesApi, recorded_server: RecordedServer, chr20: bytes) -> World:
    slug = f"mis-{uuid.uuid4().hex[:8]}"
    service = jobs_api.users.ok(
        "POST",
        "/api/services/",
        {
            "name": f"Michigan {slug}",
            "slug": slug,
            "api_type": "cloudgene",
            "base_url": recorded_server.url,
            "app_id": "imputationserver2",
            "limits": {"min_samples": 20, "max_samples": 500},
        },
    )
    synced = jobs_api.users.ok("POST", f"/api/services/{slug}/sync/")
    user_id, token = jobs_api.user_new()
    upload = jobs_api.upload_form("/api/files/", token=token, name="chr20.vcf.gz", content=chr20)
    assert upload.status == 201, upload.content
    file_id = int(upload.json()["id"])
    assert jobs_api.settled(file_id, token=token)["status"] == "ready"
    return World(jobs_api, token, user_id, service, synced["panels"][0], file_id)


def test_a_job_is_created_with_the_contract_fields(world: World) -> None:
    reply = world.call("POST", "/api/jobs/", world.job_body())
    assert reply.status == 201, reply.body
    job = reply.body
    assert set(job) == JOB_KEYS
    assert (job["status"], job["stage"], job["progress"], job["user_id"]) == ("queued", "queued", 0, world.user_id)
    assert job["service"] == {"id": world.service["id"], "name": world.service["name"], "slug": world.service["slug"]}
    assert job["reference_panel"]["id"] == world.panel["id"] and job["input_files"] == [world.file_id]
    detail = world.call("GET", f"/api/jobs/{job['id']}/")
    assert detail.status == 200 and set(detail.body) == DETAIL_KEYS
    history = world.call("GET", f"/api/jobs/{job['id']}/status/").body
    assert [row["status"] for row in history["results"]] == ["pending", "queued"]
    assert set(history["results"][0]) == {"status", "stage", "progress", "message", "remote_state", "timestamp"}
    assert world.call("GET", f"/api/jobs/{job['id']}/logs/").body["results"] == []
    listed = world.call("GET", "/api/jobs/").body
    assert [item["id"] for item in listed["results"]] == [job["id"]]


def test_validation_errors_are_specific_on_every_target(world: World) -> None:
    reply = world.call("POST", "/api/jobs/", world.job_body(reference_panel="no-such-panel"))
    assert reply.status == 400
    assert reply.body["error"]["details"] == {
        "reference_panel": [f"{world.service['name']} has no reference panel 'no-such-panel'."]
    }
    reply = world.call("POST", "/api/jobs/", world.job_body(build="hg38"))
    assert reply.status == 400
    assert "looks like hg19" in reply.body["error"]["details"]["input_files"][0]


def test_an_idempotency_key_makes_a_double_click_one_job(world: World) -> None:
    first = world.call("POST", "/api/jobs/", world.job_body(), **{"Idempotency-Key": "double-click"})
    second = world.call("POST", "/api/jobs/", world.job_body(), **{"Idempotency-Key": "double-click"})
    assert (first.status, second.status) == (201, 200) and first.body["id"] == second.body["id"]
    assert world.call("GET", "/api/jobs/").body["count"] == 1


def test_another_users_job_is_404_everywhere(world: World) -> None:
    job = world.call("POST", "/api/jobs/", world.job_body()).body
    _, other = world.api.user_new()
    for method, path in (("GET", ""), ("GET", "status/"), ("GET", "logs/"), ("POST", "cancel/"), ("POST", "retry/")):
        reply = world.call(method, f"/api/jobs/{job['id']}/{path}", token=other)
        assert reply.status == 404 and reply.body["error"]["code"] == "NOT_FOUND", (method, path)


def test_templates_and_schedules_round_trip(world: World) -> None:
    template = world.call(
        "POST",
        "/api/templates/",
        {
            "name": "MIS",
            "params": {"service": world.service["slug"], "reference_panel": world.panel["id"], "population": "off"},
        },
    )
    assert template.status == 201 and template.body["params"]["service"] == world.service["slug"]
    job = world.call(
        "POST", "/api/jobs/", {"name": "templated", "template": template.body["id"], "input_files": [world.file_id]}
    )
    assert job.status == 201 and job.body["service"]["slug"] == world.service["slug"]
    schedule = world.call(
        "POST",
        "/api/scheduled/",
        {
            "name": "weekly",
            "template": template.body["id"],
            "params": {"input_files": [world.file_id]},
            "recurrence": "weekly",
            "next_run_at": "2030-01-01T00:00:00Z",
            "max_runs": 3,
        },
    )
    assert schedule.status == 201, schedule.body
    assert (schedule.body["recurrence"], schedule.body["runs"], schedule.body["next_run_at"]) == (
        "weekly",
        0,
        "2030-01-01T00:00:00Z",
    )
    assert world.call("DELETE", f"/api/scheduled/{schedule.body['id']}/").status == 204
    assert world.call("GET", f"/api/scheduled/{schedule.body['id']}/").status == 404
