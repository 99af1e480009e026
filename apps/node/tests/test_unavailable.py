"""A node that cannot run jobs says so on both fronts, with the install hint, and refuses them without crashing."""

import io
import json

import pytest
from django.test import Client

from apps.node import pipeline, states
from apps.node.demo import DemoChromosome
from apps.node.models import LogMessage, NodeJob, NodeUser, Panel, Switches
from apps.node.tests.conftest import job_with_input

pytestmark = [pytest.mark.django_db(databases=["node"]), pytest.mark.urls("apps.node.api.urls")]

HINT = "Beagle 5 is not installed on this node; install it with `apt-get install beagle`."
WES = "/ga4gh/wes/v1"


@pytest.fixture(autouse=True)
def beagle_missing(settings: pytest.FixtureRequest) -> None:
    settings.NODE_BEAGLE = "/nonexistent/beagle"  # type: ignore[attr-defined]


def _vcf() -> io.BytesIO:
    upload = io.BytesIO(b"\x1f\x8b not really a vcf")
    upload.name = "chr20.vcf.gz"
    return upload


def test_the_cloudgene_front_shows_maintenance_with_the_hint_and_refuses_submits(
    client_for: Client, queued: list[str]
) -> None:
    server = client_for.get("/api/v2/server")
    answer = client_for.post("/api/v2/jobs/submit/imputationserver2", {"files": [_vcf()], "refpanel": "demo-hg19"})
    listed = client_for.get("/api/v2/jobs")

    assert (server.status_code, server.json()["maintenace"], server.json()["maintenaceMessage"]) == (200, True, HINT)
    assert (answer.status_code, answer.json()["message"]) == (503, f"This node cannot run jobs: {HINT}")
    assert (listed.status_code, queued, NodeJob.objects.count()) == (200, [], 0)


def test_the_wes_front_answers_503_with_the_hint_and_refuses_runs(token: str, queued: list[str]) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    form = {"workflow_type": "NEXTFLOW", "workflow_type_version": "23.04", "workflow_url": "x"}

    info = client.get(f"{WES}/service-info")
    answer = client.post(f"{WES}/runs", {**form, "workflow_params": json.dumps({}), "workflow_attachment": _vcf()})

    assert (info.status_code, info.json()) == (503, {"msg": HINT, "status_code": 503})
    assert (answer.status_code, answer.json()["msg"]) == (503, f"This node cannot run jobs: {HINT}")
    assert (queued, NodeJob.objects.count()) == ([], 0)


def test_a_job_already_queued_fails_with_the_hint(
    user: NodeUser, panel: Panel, demo_files: list[DemoChromosome]
) -> None:
    job = job_with_input(user, demo_files)

    pipeline.run(job.pk)

    error = LogMessage.objects.get(step__job_id=job.pk, type=LogMessage.ERROR)
    assert (NodeJob.objects.get(pk=job.pk).state, error.step.name, error.message) == (
        states.FAILED,
        "Input Validation",
        HINT,
    )


def test_the_wes_front_in_maintenance_is_503_for_service_info_and_runs(token: str, settings: object) -> None:
    settings.NODE_BEAGLE = "beagle"  # type: ignore[attr-defined]
    Switches.put(maintenance=True)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    answers = [client.get(f"{WES}/service-info"), client.get(f"{WES}/runs")]

    message = "This functionality is currently under maintenance."
    assert [(answer.status_code, answer.json()["msg"]) for answer in answers] == [(503, message), (503, message)]
