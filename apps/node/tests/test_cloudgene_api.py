import io

import pytest
from django.test import Client

from apps.node import engine, states
from apps.node.models import NodeJob, NodeUser, Panel, Switches
from apps.node.tokens import token_create

pytestmark = [pytest.mark.django_db(databases=["node"]), pytest.mark.urls("apps.node.api.urls")]

SUBMIT = "/api/v2/jobs/submit/imputationserver2"


def _vcf(name: str = "chr20.vcf.gz") -> io.BytesIO:
    upload = io.BytesIO(b"\x1f\x8b not really a vcf")
    upload.name = name
    return upload


def test_server_lists_the_app_only_for_a_signed_in_token(client_for: Client) -> None:
    anonymous = Client().get("/api/v2/server").json()
    signed_in = client_for.get("/api/v2/server").json()

    assert (anonymous["apps"], anonymous["loggedIn"]) == ([], False)
    assert signed_in["apps"][0]["id"] == "imputationserver2@2.0.0"
    assert signed_in["user"]["username"] == "alice"


def test_the_app_form_lists_panels_with_their_bound_populations(client_for: Client, panel: Panel) -> None:
    params = {param["id"]: param for param in client_for.get("/api/v2/server/apps/imputationserver2").json()["params"]}

    assert params["refpanel"]["values"] == [{"key": "apps@demo-hg19@1.0.0", "value": "Demo hg19"}]
    assert params["population"]["values"] == [
        {"key": "apps@demo-hg19@1.0.0", "values": [{"key": "mixed", "value": "Mixed"}]}
    ]


def test_submit_strips_input_prefixes_ignores_other_files_and_reads_checkboxes_by_presence(
    client_for: Client, queued: list[str]
) -> None:
    body = {
        "input-files": [_vcf(), _vcf("notes.txt")],
        "input-refpanel": "demo-hg19",
        "meta": "false",
        "job-name": "<b>mine</b>",
        "password": "pw",
    }

    answer = client_for.post(SUBMIT, body)

    job = NodeJob.objects.get()
    assert answer.json() == {
        "success": True,
        "message": "Your job was successfully added to the job queue.",
        "id": job.id,
    }
    assert (job.name, job.params["meta"], job.params["refpanel"], job.secret) == (
        "&lt;b&gt;mine&lt;/b&gt;",
        True,
        "demo-hg19",
        "pw",
    )
    assert sorted(path.name for path in (engine.node_dir() / "jobs" / job.id / "input").iterdir()) == ["chr20.vcf.gz"]
    assert queued == [job.id]


def test_an_unknown_field_is_400_parameter_not_found(client_for: Client, queued: list[str]) -> None:
    answer = client_for.post(SUBMIT, {"files": [_vcf()], "files-source": "http"})

    assert (answer.status_code, answer.json()) == (
        400,
        {"success": False, "message": "Parameter 'files-source' not found."},
    )


def test_a_third_concurrent_job_is_refused(client_for: Client, user: NodeUser, queued: list[str]) -> None:
    for _ in range(2):
        engine.job_create(user, name="x", params={}, password="")

    answer = client_for.post(SUBMIT, {"files": [_vcf()]})

    assert (answer.status_code, answer.json()["message"]) == (
        400,
        "Only 2 jobs per user can be executed simultaneously.",
    )


def test_maintenance_is_503_for_jobs(client_for: Client) -> None:
    Switches.put(maintenance=True)

    answer = client_for.get("/api/v2/jobs")

    assert (answer.status_code, answer.json()["message"]) == (503, "This functionality is currently under maintenance.")


def test_an_upload_over_the_cap_is_413(client_for: Client, settings: object, queued: list[str]) -> None:
    settings.NODE_UPLOAD_LIMIT_MB = 0  # type: ignore[attr-defined]

    answer = client_for.post(SUBMIT, {"files": [_vcf()]})

    assert (answer.status_code, NodeJob.objects.count()) == (413, 0)


def test_revoked_tokens_are_403_and_garbage_401(user: NodeUser) -> None:
    old = token_create(user)
    token_create(user)

    assert Client(HTTP_X_AUTH_TOKEN=old).get("/api/v2/jobs").status_code == 403
    assert Client(HTTP_X_AUTH_TOKEN="garbage").get("/api/v2/jobs").status_code == 401


def test_verify_reports_validity_user_and_expiry(token: str) -> None:
    body = Client().post("/api/v2/tokens/verify", {"token": token}).json()

    assert (body["valid"], body["username"], body["message"]) == (True, "alice", "API Token is valid.")
    assert body["expire"]


def test_jobs_page_by_15_and_list_all_without_a_page(client_for: Client, user: NodeUser) -> None:
    for _ in range(17):
        engine.job_create(user, name="x", params={}, password="")

    everything = client_for.get("/api/v2/jobs").json()
    second = client_for.get("/api/v2/jobs?page=2").json()

    assert (everything["count"], everything["pageSize"], len(everything["data"])) == (17, 17, 17)
    assert (second["page"], second["prev"], second["next"], second["pages"], len(second["data"])) == (
        2,
        1,
        None,
        [1, 2],
        2,
    )


def test_restart_is_refused_unless_dead_and_cancel_is_a_get(client_for: Client, user: NodeUser) -> None:
    job = engine.job_create(user, name="x", params={}, password="")

    refused = client_for.get(f"/api/v2/jobs/{job.id}/restart")
    cancelled = client_for.get(f"/api/v2/jobs/{job.id}/cancel")

    assert (refused.status_code, refused.json()["message"]) == (400, f"Job {job.id} is not pending.")
    assert cancelled.json()["state"] == states.CANCELED


def test_an_api_token_cannot_delete(client_for: Client, user: NodeUser) -> None:
    job = engine.job_create(user, name="x", params={}, password="")

    assert client_for.delete(f"/api/v2/jobs/{job.id}").status_code == 403
