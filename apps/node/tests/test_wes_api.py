import io
import json

import pytest
from django.test import Client

from apps.node import engine, states
from apps.node.models import LogMessage, NodeJob, NodeUser, Panel

pytestmark = [pytest.mark.django_db(databases=["node"]), pytest.mark.urls("apps.node.api.urls")]

BASE = "/ga4gh/wes/v1"


@pytest.fixture
def wes_client(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def _form(**overrides: object) -> dict[str, object]:
    upload = io.BytesIO(b"\x1f\x8b not really a vcf")
    upload.name = "chr20.vcf.gz"
    form: dict[str, object] = {
        "workflow_type": "NEXTFLOW",
        "workflow_type_version": "23.04",
        "workflow_url": "https://github.com/genepi/imputationserver2",
        "workflow_params": json.dumps(
            {"project": "p-1", "refpanel": "demo-hg19", "password": "pw", "phasing": {"engine": "beagle"}}
        ),
        "tags": json.dumps({"platform_job_id": "p-1"}),
        "workflow_attachment": upload,
    }
    form.update(overrides)
    return {key: value for key, value in form.items() if value is not None}


def test_service_info_has_the_required_fields_and_the_panels(panel: Panel) -> None:
    info = Client().get(f"{BASE}/service-info").json()

    assert info["type"] == {"group": "org.ga4gh", "artifact": "wes", "version": "1.1.0"}
    assert {key for key in ("id", "name", "organization", "version") if info.get(key)} == {
        "id",
        "name",
        "organization",
        "version",
    }
    assert info["workflow_type_versions"] == {"NEXTFLOW": {"workflow_type_version": ["23.04"]}}
    assert [item["id"] for item in info["reference_panels"]] == ["demo-hg19"]


def test_submit_maps_workflow_params_keeps_the_attachment_and_hides_the_password(
    wes_client: Client, queued: list[str]
) -> None:
    answer = wes_client.post(f"{BASE}/runs", _form())

    job = NodeJob.objects.get(pk=answer.json()["run_id"])
    assert (answer.status_code, queued, job.front, job.name, job.secret) == (200, [job.pk], "wes", "p-1", "pw")
    assert (job.params["phasing"], job.params["refpanel"], job.tags) == (
        "beagle",
        "demo-hg19",
        {"platform_job_id": "p-1"},
    )
    assert "password" not in job.wes_request["workflow_params"]
    assert sorted(path.name for path in (engine.node_dir() / "jobs" / job.id / "input").iterdir()) == ["chr20.vcf.gz"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"workflow_type": None}, "workflow_type is required."),
        ({"workflow_type": "CWL"}, "Unsupported workflow CWL 23.04; see service-info."),
        ({"workflow_params": "[1]"}, "workflow_params must be a JSON object."),
    ],
)
def test_submit_refuses_bad_requests_with_an_error_response(
    wes_client: Client, queued: list[str], overrides: dict[str, object], message: str
) -> None:
    answer = wes_client.post(f"{BASE}/runs", _form(**overrides))

    assert (answer.status_code, answer.json(), queued) == (400, {"msg": message, "status_code": 400}, [])


def test_runs_need_a_bearer_token_and_unknown_runs_are_404(wes_client: Client) -> None:
    anonymous = Client().get(f"{BASE}/runs")
    unknown = wes_client.get(f"{BASE}/runs/job-x/status")

    assert (anonymous.status_code, anonymous.json()["status_code"]) == (401, 401)
    assert (unknown.status_code, unknown.json()) == (404, {"msg": "Run job-x not found.", "status_code": 404})


def test_runs_are_listed_newest_first_in_pages_ending_with_an_empty_token(wes_client: Client, user: NodeUser) -> None:
    made = [engine.job_create(user, name=f"r{index}", params={}, password="", front="wes").id for index in range(3)]

    first = wes_client.get(f"{BASE}/runs", {"page_size": 2}).json()
    second = wes_client.get(f"{BASE}/runs", {"page_size": 2, "page_token": first["next_page_token"]}).json()

    assert [run["run_id"] for run in first["runs"]] == made[::-1][:2]
    assert [run["run_id"] for run in second["runs"]] == made[:1]
    assert (first["next_page_token"] != "", second["next_page_token"]) == (True, "")


def test_cancel_cancels_a_queued_run_asks_a_running_one_and_is_too_late_for_an_exporting_one(
    wes_client: Client, user: NodeUser
) -> None:
    waiting, running, exporting = (engine.job_create(user, name=n, params={}, password="", front="wes") for n in "wre")
    NodeJob.objects.filter(pk=running.pk).update(state=states.RUNNING)
    NodeJob.objects.filter(pk=exporting.pk).update(state=states.EXPORTING)
    engine.step_start(exporting, "Compression and Encryption")

    replies = [wes_client.post(f"{BASE}/runs/{job.pk}/cancel").json() for job in (waiting, running, exporting)]

    seen = [wes_client.get(f"{BASE}/runs/{job.pk}/status").json()["state"] for job in (waiting, running, exporting)]
    assert replies == [{"run_id": job.pk} for job in (waiting, running, exporting)]
    assert seen == ["CANCELED", "CANCELING", "RUNNING"]
    assert LogMessage.objects.get(step__job=exporting).message == (
        "Cancel requested while the results were being exported: too late, the job finishes."
    )


def test_a_running_run_reads_canceled_once_the_pipeline_confirms(wes_client: Client, user: NodeUser) -> None:
    job = engine.job_create(user, name="r", params={}, password="", front="wes")
    NodeJob.objects.filter(pk=job.pk).update(state=states.RUNNING)
    wes_client.post(f"{BASE}/runs/{job.pk}/cancel")

    exported = engine.transition(job, states.EXPORTING, expected=[states.RUNNING], cancel_requested=False)
    confirmed = engine.cancel_confirm(job)

    assert (exported, confirmed) == (False, True)
    assert wes_client.get(f"{BASE}/runs/{job.pk}/status").json()["state"] == "CANCELED"


@pytest.mark.parametrize(
    ("state", "outcome", "expected"),
    [
        (states.SUCCESS_NOTIFIED, states.SUCCESS, "COMPLETE"),
        (states.FAILED_NOTIFIED, states.CANCELED, "CANCELED"),
        (states.FAILED_NOTIFIED, states.FAILED, "EXECUTOR_ERROR"),
        (states.RETIRED, states.CANCELED, "CANCELED"),
        (states.RETIRED, states.SUCCESS, "COMPLETE"),
    ],
)
def test_after_retention_a_run_keeps_the_name_of_its_end(
    wes_client: Client, user: NodeUser, state: int, outcome: int, expected: str
) -> None:
    job = engine.job_create(user, name="x", params={}, password="", front="wes")
    NodeJob.objects.filter(pk=job.pk).update(state=state, outcome=outcome)

    assert wes_client.get(f"{BASE}/runs/{job.pk}/status").json()["state"] == expected


def test_submit_by_url_keeps_the_urls_for_the_pipeline_and_advertises_http_pulls(
    wes_client: Client, queued: list[str]
) -> None:
    urls = ["https://files.example.org/chr20.vcf.gz?sig=abc", "http://127.0.0.1:9/chr22.vcf.gz"]
    params = {"project": "p-2", "refpanel": "demo-hg19", "password": "pw", "files": urls}

    answer = wes_client.post(f"{BASE}/runs", _form(workflow_params=json.dumps(params), workflow_attachment=None))

    job = NodeJob.objects.get(pk=answer.json()["run_id"])
    info = Client().get(f"{BASE}/service-info").json()
    assert (answer.status_code, queued, job.params["input_urls"]) == (200, [job.pk], urls)
    assert list((engine.node_dir() / "jobs" / job.id / "input").iterdir()) == []
    assert info["supported_filesystem_protocols"] == ["http", "https"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["ftp://files.example.org/chr20.vcf.gz"], "Cannot pull 'ftp://files.example.org/chr20.vcf.gz': "),
        (["file:///etc/passwd"], "Cannot pull 'file:///etc/passwd': "),
        ([], "No input files: attach the VCFs"),
    ],
)
def test_submit_by_url_refuses_other_schemes_and_no_input(
    wes_client: Client, queued: list[str], files: list[str], message: str
) -> None:
    params = {"project": "p-3", "refpanel": "demo-hg19", "password": "pw", "files": files}

    answer = wes_client.post(f"{BASE}/runs", _form(workflow_params=json.dumps(params), workflow_attachment=None))

    assert (answer.status_code, answer.json()["msg"].startswith(message), queued) == (400, True, [])
