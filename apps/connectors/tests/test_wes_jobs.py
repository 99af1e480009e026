"""WES job calls: the RunRequest multipart, state mapping, paginated runs and tasks, starter-kit quirks (§2, §8.3)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from apps.connectors.public import (
    ConfigurationError,
    Connector,
    CredentialError,
    InputFile,
    JobSubmission,
    LogEntry,
    NotFoundError,
    QuotaError,
    RemoteJobRef,
    ResultFile,
    UnsupportedOperationError,
    connector_for,
)
from apps.connectors.tests import payloads
from apps.connectors.tests.payloads import task_log
from apps.connectors.tests.recorded_server import WES_TOKEN, RecordedServer

RUNS = "/ga4gh/wes/v1/runs"


def a_submission(vcf: Callable[[str], InputFile], **changes: Any) -> JobSubmission:
    defaults: dict[str, Any] = {
        "job_id": "job-6f1c2a",
        "refpanel": "h3africa-v6",
        "password": "Zq8!rT2#pL5m",
        "files": (vcf("chr20.vcf.gz"),),
        "population": "afr",
        "build": "hg38",
    }
    return JobSubmission(**{**defaults, **changes})


def test_submit_posts_the_run_request_fields_with_types_read_from_service_info(
    recorded_server: RecordedServer, wes: Connector, vcf: Callable[[str], InputFile]
) -> None:
    submission = a_submission(vcf, r2_filter=0.3)

    result = wes.submit(submission, token=WES_TOKEN)

    sent = recorded_server.last_request(RUNS, "POST")
    fields = {name: values[0] for name, values in sent.fields.items()}
    assert sorted(fields) == [
        "tags",
        "workflow_engine",
        "workflow_engine_version",
        "workflow_params",
        "workflow_type",
        "workflow_type_version",
        "workflow_url",
    ]
    assert (fields["workflow_type"], fields["workflow_type_version"]) == ("NEXTFLOW", "23.10")
    assert (fields["workflow_engine"], fields["workflow_engine_version"]) == ("nextflow", "23.10.1")
    assert fields["workflow_url"] == "https://github.com/genepi/imputationserver2@v2.0.12"
    assert json.loads(fields["tags"]) == {"platform_job_id": "job-6f1c2a", "idempotency_key": "job-6f1c2a"}
    assert json.loads(fields["workflow_params"]) == {
        "project": "job-6f1c2a",
        "files": ["chr20.vcf.gz"],
        "output": "output",
        "refpanel": "h3africa-v6",
        "build": "hg38",
        "mode": "imputation",
        "password": "Zq8!rT2#pL5m",
        "allele_frequency_population": "afr",
        "phasing": {"engine": "eagle"},
        "imputation": {"min_r2": 0.3},
    }
    assert sent.files == [("workflow_attachment", "chr20.vcf.gz", submission.files[0].path.read_bytes())]
    assert sent.headers["authorization"] == f"Bearer {WES_TOKEN}"
    assert result.remote_job_id == next(iter(recorded_server.wes_runs))


def test_files_the_node_can_pull_are_sent_as_urls_without_attachments(
    recorded_server: RecordedServer, wes: Connector, vcf: Callable[[str], InputFile]
) -> None:
    urls = ("https://files.platform.example/u/1/chr20.vcf.gz", "drs://files.platform.example/obj-20")

    wes.submit(a_submission(vcf, file_urls=urls, idempotency_key="idem-77"), token=WES_TOKEN)

    sent = recorded_server.last_request(RUNS, "POST")
    assert json.loads(sent.fields["workflow_params"][0])["files"] == list(urls)
    assert json.loads(sent.fields["tags"][0]) == {"platform_job_id": "job-6f1c2a", "idempotency_key": "idem-77"}
    assert sent.files == []


def test_urls_the_node_cannot_pull_fall_back_to_pushing_the_files(
    recorded_server: RecordedServer, wes: Connector, vcf: Callable[[str], InputFile]
) -> None:
    wes.submit(a_submission(vcf, file_urls=("s3://bucket/chr20.vcf.gz",)), token=WES_TOKEN)

    sent = recorded_server.last_request(RUNS, "POST")
    assert json.loads(sent.fields["workflow_params"][0])["files"] == ["chr20.vcf.gz"]
    assert [name for name, _, _ in sent.files] == ["workflow_attachment"]


def test_the_app_id_names_the_workflow_and_a_named_type_is_honoured(
    recorded_server: RecordedServer, vcf: Callable[[str], InputFile]
) -> None:
    with connector_for(
        api_type="wes", base_url=recorded_server.url, app_id="https://node.example/wf/impute.cwl"
    ) as wes:
        wes.submit(a_submission(vcf, workflow_type="cwl"), token=WES_TOKEN)

    sent = recorded_server.last_request(RUNS, "POST")
    assert (sent.fields["workflow_url"], sent.fields["workflow_type"], sent.fields["workflow_type_version"]) == (
        ["https://node.example/wf/impute.cwl"],
        ["CWL"],
        ["v1.2"],
    )


def test_a_type_the_node_does_not_run_is_refused_before_posting(
    recorded_server: RecordedServer, wes: Connector, vcf: Callable[[str], InputFile]
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        wes.submit(a_submission(vcf, workflow_type="SMK"), token=WES_TOKEN)

    assert caught.value.message == "submit: the node does not run SMK workflows; it offers CWL, NEXTFLOW."
    assert recorded_server.requests_to(RUNS, "POST") == []


def test_the_starter_kit_gets_its_own_type_and_no_engine_fields(
    recorded_server: RecordedServer, wes: Connector, vcf: Callable[[str], InputFile]
) -> None:
    recorded_server.scenario.service_info = payloads.service_info_starter_kit()
    recorded_server.scenario.starter_kit = True

    result = wes.submit(a_submission(vcf, workflow_url="https://github.com/genepi/imputationserver2"), token=WES_TOKEN)

    sent = recorded_server.last_request(RUNS, "POST")
    assert (sent.fields["workflow_type"], sent.fields["workflow_type_version"]) == (["NEXTFLOW"], ["21.04.0"])
    assert "workflow_engine" not in sent.fields
    assert recorded_server.wes_runs[result.remote_job_id].attachments == []  # ignored by the node, survived by us


def test_a_node_400_is_a_configuration_error_with_its_msg(
    recorded_server: RecordedServer, wes: Connector, vcf: Callable[[str], InputFile]
) -> None:
    recorded_server.fail(RUNS, method="POST", status=400, body=payloads.wes_error(400, "workflow_params: invalid JSON"))

    with pytest.raises(ConfigurationError) as caught:
        wes.submit(a_submission(vcf), token=WES_TOKEN)

    assert caught.value.message == "The service rejected the request (submit: HTTP 400: workflow_params: invalid JSON)."


def test_a_node_429_at_submit_is_a_quota_error_so_the_job_is_requeued(
    recorded_server: RecordedServer, wes: Connector, vcf: Callable[[str], InputFile]
) -> None:
    recorded_server.fail(RUNS, method="POST", status=429, body=payloads.wes_error(429, "Only 2 jobs per user."))

    with pytest.raises(QuotaError) as caught:
        wes.submit(a_submission(vcf), token=WES_TOKEN)

    assert caught.value.status_code == 429 and "Only 2 jobs per user." in caught.value.message
    assert recorded_server.wes_runs == {}


def test_a_run_walks_through_the_states(recorded_server: RecordedServer, wes: Connector) -> None:
    run = recorded_server.wes_run(["QUEUED", "INITIALIZING", "RUNNING", "PAUSED", "COMPLETE"])

    polls = [wes.status(run.run_id, token=WES_TOKEN) for _ in range(5)]

    assert [(p.raw_state, p.state, p.finished) for p in polls] == [
        ("QUEUED", "submitted", False),
        ("INITIALIZING", "submitted", False),
        ("RUNNING", "running", False),
        ("PAUSED", "running", False),
        ("COMPLETE", "downloading", True),
    ]
    assert recorded_server.last_request().path == f"{RUNS}/{run.run_id}/status"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("CANCELING", ("cancelling", False, None, "", False)),
        ("CANCELED", ("cancelled", True, None, "", False)),
        (
            "SYSTEM_ERROR",
            ("failed", True, "remote_system", "The remote node had an infrastructure failure (SYSTEM_ERROR).", False),
        ),
        ("PREEMPTED", ("failed", True, "remote_system", "The remote node reclaimed the capacity (PREEMPTED).", True)),
    ],
)
def test_terminal_and_cancel_states_map_per_the_table(
    recorded_server: RecordedServer, wes: Connector, state: str, expected: tuple[object, ...]
) -> None:
    run = recorded_server.wes_run([state])

    status = wes.status(run.run_id, token=WES_TOKEN)

    assert (
        status.state,
        status.finished,
        status.failure_category,
        status.failure_message,
        status.resubmittable,
    ) == expected


def test_unknown_keeps_the_previous_state_then_counts_as_lost(recorded_server: RecordedServer, wes: Connector) -> None:
    run = recorded_server.wes_run(["RUNNING", "UNKNOWN"])
    seen: list[str] = []

    for _ in range(6):
        status = wes.status(run.run_id, token=WES_TOKEN, seen_states=seen)
        seen.append(status.raw_state)
        if status.finished:
            break

    assert seen == ["RUNNING", "UNKNOWN", "UNKNOWN", "UNKNOWN", "UNKNOWN", "UNKNOWN"]
    assert (status.state, status.failure_category) == ("failed", "lost")


def test_a_missing_state_reads_as_unknown(recorded_server: RecordedServer, wes: Connector) -> None:
    run = recorded_server.wes_run([""])

    status = wes.status(run.run_id, token=WES_TOKEN, seen_states=["QUEUED"])

    assert (status.raw_state, status.state) == ("UNKNOWN", "submitted")


def test_an_executor_error_is_classified_from_the_failed_tasks_log(
    recorded_server: RecordedServer, wes: Connector
) -> None:
    tasks = [
        task_log(
            1,
            name="INPUT_VALIDATION",
            exit_code=1,
            system_logs=["Checking files", "At least 20 samples must be uploaded."],
        ),
    ]
    run = recorded_server.wes_run(["EXECUTOR_ERROR"], tasks=tasks)

    status = wes.status(run.run_id, token=WES_TOKEN)

    assert (status.state, status.failure_category, status.failure_message) == (
        "failed",
        "validation",
        "At least 20 samples must be uploaded.",
    )


def test_an_executor_error_without_any_log_says_which_task_exited_how(
    recorded_server: RecordedServer, wes: Connector
) -> None:
    run = recorded_server.wes_run(["EXECUTOR_ERROR"], tasks=[task_log(1, name="IMPUTATION", exit_code=137)])

    status = wes.status(run.run_id, token=WES_TOKEN)

    assert (status.failure_category, status.failure_message) == ("remote_pipeline", "IMPUTATION exited with code 137.")


def test_without_system_logs_the_failure_is_read_from_the_tail_of_stderr(
    recorded_server: RecordedServer, wes: Connector
) -> None:
    run = recorded_server.wes_run(["EXECUTOR_ERROR"])
    stderr = recorded_server.stderr_url(run, "task-002", "N E X T F L O W\nERROR ~ No chunks passed the QC step.\n\n")
    run.tasks = [
        task_log(1, name="INPUT_VALIDATION", exit_code=0),
        task_log(2, name="QUALITY_CONTROL", exit_code=1, stderr=stderr),
    ]

    status = wes.status(run.run_id, token=WES_TOKEN)

    assert (status.failure_category, status.failure_message) == ("qc", "ERROR ~ No chunks passed the QC step.")


def test_a_run_the_node_does_not_know_is_not_found(wes: Connector) -> None:
    with pytest.raises(NotFoundError) as caught:
        wes.status("run-missing", token=WES_TOKEN)

    assert caught.value.message == "Not found (run status: HTTP 404: Run run-missing not found.)."


def test_task_logs_are_read_across_every_page(recorded_server: RecordedServer, wes: Connector) -> None:
    recorded_server.scenario.page_cap = 10
    tasks = [task_log(index, name=f"IMPUTE_CHUNK_{index}", exit_code=0) for index in range(1, 26)]
    run = recorded_server.wes_run(["COMPLETE"], tasks=tasks, run_log={"system_logs": ["pipeline done"]})

    logs = wes.logs(run.run_id, token=WES_TOKEN)

    assert logs[:2] == [
        LogEntry(source="imputationserver2", message="pipeline done"),
        LogEntry(
            source="imputationserver2",
            message="exited with code 0",
            level="info",
            time=datetime(2026, 1, 1, 1, tzinfo=UTC),
        ),
    ]
    assert [entry.source for entry in logs[2:]] == [f"IMPUTE_CHUNK_{index}" for index in range(1, 26)]
    pages = recorded_server.requests_to(f"{RUNS}/{run.run_id}/tasks")
    assert len(pages) == 3
    assert [request.query.get("page_token") is None for request in pages] == [True, False, False]


def test_a_wes_1_0_node_gives_its_task_logs_inline(recorded_server: RecordedServer, wes: Connector) -> None:
    recorded_server.scenario.wes_v10 = True
    run = recorded_server.wes_run(["COMPLETE"], tasks=[task_log(1, name="IMPUTATION", exit_code=0)])

    logs = wes.logs(run.run_id, token=WES_TOKEN)

    assert [entry.source for entry in logs] == ["imputationserver2", "IMPUTATION"]
    assert recorded_server.requests_to(f"{RUNS}/{run.run_id}/tasks") == []


def test_runs_are_listed_across_pages_even_when_pages_are_short(
    recorded_server: RecordedServer, wes: Connector
) -> None:
    recorded_server.scenario.page_cap = 10
    runs = [recorded_server.wes_run(["COMPLETE"], tags={"platform_job_id": f"job-{i}"}) for i in range(25)]

    listed = wes.list_jobs(token=WES_TOKEN)

    assert listed == [
        RemoteJobRef(remote_job_id=run.run_id, raw_state="COMPLETE", name=run.tags["platform_job_id"]) for run in runs
    ]
    assert [request.query["page_size"] for request in recorded_server.requests_to(RUNS, "GET")] == [["100"]] * 3


def test_reconciliation_finds_the_run_tagged_with_the_job_id(recorded_server: RecordedServer, wes: Connector) -> None:
    recorded_server.scenario.page_cap = 2
    for index in range(5):
        recorded_server.wes_run(["COMPLETE"], tags={"platform_job_id": f"job-{index}"})
    wanted = recorded_server.wes_run(
        ["RUNNING"], tags={"platform_job_id": "job-6f1c2a", "idempotency_key": "job-6f1c2a"}
    )

    found = wes.find_by_job_name("job-6f1c2a", token=WES_TOKEN)

    assert found == [RemoteJobRef(remote_job_id=wanted.run_id, raw_state="RUNNING", name="job-6f1c2a")]


def test_reconciliation_on_a_1_0_node_reads_the_tags_from_each_run_log(
    recorded_server: RecordedServer, wes: Connector
) -> None:
    recorded_server.scenario.wes_v10 = True
    recorded_server.wes_run(["COMPLETE"], tags={"platform_job_id": "job-other"})
    wanted = recorded_server.wes_run(["QUEUED"], tags={"platform_job_id": "job-6f1c2a"})

    found = wes.find_by_job_name("job-6f1c2a", token=WES_TOKEN)

    assert found == [RemoteJobRef(remote_job_id=wanted.run_id, raw_state="QUEUED", name="job-6f1c2a")]


def test_the_starter_kit_lists_without_pagination_and_only_finished_runs(
    recorded_server: RecordedServer, wes: Connector
) -> None:
    recorded_server.scenario.starter_kit = True
    done = recorded_server.wes_run(["COMPLETE"], tags={"platform_job_id": "job-1"})
    recorded_server.wes_run(["RUNNING"], tags={"platform_job_id": "job-2"})

    listed = wes.list_jobs(token=WES_TOKEN)

    assert listed == [RemoteJobRef(remote_job_id=done.run_id, raw_state="COMPLETE", name="job-1")]
    assert len(recorded_server.requests_to(RUNS, "GET")) == 1


def test_cancel_posts_and_reports_the_cancelling_state(recorded_server: RecordedServer, wes: Connector) -> None:
    run = recorded_server.wes_run(["RUNNING", "RUNNING"])
    wes.status(run.run_id, token=WES_TOKEN)

    status = wes.cancel(run.run_id, token=WES_TOKEN)
    later = wes.status(run.run_id, token=WES_TOKEN, seen_states=["RUNNING", status.raw_state])

    assert (status.raw_state, status.state) == ("CANCELING", "cancelling")
    assert (later.raw_state, later.state) == ("CANCELED", "cancelled")
    assert recorded_server.requests_to(f"{RUNS}/{run.run_id}/cancel", "POST") != []


def test_the_starter_kits_empty_cancel_answer_is_survived(recorded_server: RecordedServer, wes: Connector) -> None:
    recorded_server.scenario.starter_kit = True
    run = recorded_server.wes_run(["RUNNING"])

    status = wes.cancel(run.run_id, token=WES_TOKEN)

    assert (status.raw_state, status.state, status.finished) == ("RUNNING", "running", False)


def test_wes_has_no_restart(wes: Connector) -> None:
    with pytest.raises(UnsupportedOperationError, match="resubmit"):
        wes.restart("run-1", token=WES_TOKEN)


def test_results_follow_the_outputs_convention(recorded_server: RecordedServer, wes: Connector) -> None:
    url = recorded_server.wes_file("chr_20.zip", b"PK-zip")
    outputs = {
        "results": [{"name": "chr_20.zip", "url": url, "size": 6, "sha256": hashlib.sha256(b"PK-zip").hexdigest()}],
        "qc_report": {"name": "qc_report.txt", "drs_uri": "drs://node.example/obj-qc"},
        "logs": ["https://node.example/logs/nextflow.log"],
        "summary": {"samples": 51},
    }
    run = recorded_server.wes_run(["COMPLETE"], outputs=outputs)

    results = wes.results(run.run_id, token=WES_TOKEN)

    assert results == [
        ResultFile(name="chr_20.zip", url=url, group="results", size=6, sha256=hashlib.sha256(b"PK-zip").hexdigest()),
        ResultFile(name="qc_report.txt", url="", group="qc_report", drs_uri="drs://node.example/obj-qc"),
    ]


def test_a_node_file_is_downloaded_with_the_bearer_token_and_checked(
    recorded_server: RecordedServer, wes: Connector, tmp_path: Path
) -> None:
    url = recorded_server.wes_file("chr_20.zip", b"PK-zip")
    result = ResultFile(name="chr_20.zip", url=url, sha256=hashlib.sha256(b"PK-zip").hexdigest())

    downloaded = wes.download(result, dest=tmp_path / "chr_20.zip", token=WES_TOKEN)

    assert (downloaded.path.read_bytes(), downloaded.downloads_left) == (b"PK-zip", None)
    assert recorded_server.last_request("/node-files/*").headers["authorization"] == f"Bearer {WES_TOKEN}"


def test_a_bearer_token_never_goes_to_another_origin(
    wes: Connector, tmp_path: Path, recorded_server: RecordedServer
) -> None:
    other_origin = recorded_server.url.replace("127.0.0.1", "localhost") + "/node-files/chr_20.zip"
    recorded_server.wes_file("chr_20.zip", b"PK-zip")

    with pytest.raises(CredentialError) as caught:  # the node refuses a request without its token
        wes.download(ResultFile(name="chr_20.zip", url=other_origin), dest=tmp_path / "chr_20.zip", token=WES_TOKEN)

    assert "authorization" not in recorded_server.last_request("/node-files/*").headers
    assert caught.value.status_code == 401
