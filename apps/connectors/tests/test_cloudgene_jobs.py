"""Cloudgene job calls: the submit multipart, typed errors, cancel/restart, reconciliation (protocols.md §1.4, §8.2)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from apps.connectors.public import (
    ConfigurationError,
    Connector,
    CredentialError,
    InputFile,
    InvalidStateError,
    JobSubmission,
    NotFoundError,
    QuotaError,
    RemoteJobRef,
    RemoteUnavailableError,
    Timeouts,
    UnsupportedOperationError,
    connector_for,
)
from apps.connectors.tests.recorded_server import CLOUDGENE_REVOKED_TOKEN, CLOUDGENE_TOKEN, RecordedServer

SUBMIT_PATH = "/api/v2/jobs/submit/imputationserver2"


def a_submission(vcf: Callable[[str], InputFile], **changes: object) -> JobSubmission:
    submission = JobSubmission(
        job_id="job-6f1c2a",
        refpanel="apps@hrc-r1.1@2.0.0",
        password="Zq8!rT2#pL5m",
        files=(vcf("chr20.vcf.gz"), vcf("chr21.vcf.gz")),
        population="eur",
    )
    return dataclasses.replace(submission, **changes)  # type: ignore[arg-type]


def test_submit_sends_exactly_the_protocol_fields_and_the_files_as_they_are(
    recorded_server: RecordedServer, cloudgene: Connector, vcf: Callable[[str], InputFile]
) -> None:
    submission = a_submission(vcf)

    result = cloudgene.submit(submission, token=CLOUDGENE_TOKEN)

    sent = recorded_server.last_request(SUBMIT_PATH, "POST")
    assert sent.fields == {
        "refpanel": ["apps@hrc-r1.1@2.0.0"],
        "population": ["eur"],
        "build": ["hg19"],
        "phasing": ["eagle"],
        "mode": ["imputation"],
        "password": ["Zq8!rT2#pL5m"],
        "job-name": ["job-6f1c2a"],
    }
    assert sent.files == [
        ("files", "chr20.vcf.gz", submission.files[0].path.read_bytes()),
        ("files", "chr21.vcf.gz", submission.files[1].path.read_bytes()),
    ]
    assert sent.headers["x-auth-token"] == CLOUDGENE_TOKEN
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert (result.message, recorded_server.cloudgene_jobs[result.remote_job_id].name) == (
        "Your job was successfully added to the job queue.",
        "job-6f1c2a",
    )


def test_optional_fields_go_out_only_when_set(
    recorded_server: RecordedServer, cloudgene: Connector, vcf: Callable[[str], InputFile]
) -> None:
    cloudgene.submit(
        a_submission(vcf, r2_filter=0.3, aes_encryption=True, meta=True, build="hg38", phasing="beagle"),
        token=CLOUDGENE_TOKEN,
    )

    sent = recorded_server.last_request(SUBMIT_PATH, "POST")
    assert sent.fields == {
        "refpanel": ["apps@hrc-r1.1@2.0.0"],
        "population": ["eur"],
        "build": ["hg38"],
        "phasing": ["beagle"],
        "mode": ["imputation"],
        "r2Filter": ["0.3"],
        "aesEncryption": ["true"],
        "meta": ["true"],
        "password": ["Zq8!rT2#pL5m"],
        "job-name": ["job-6f1c2a"],
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"files": ()}, "submit: no input files; Cloudgene takes uploaded bytes only, not URLs."),
        ({"password": ""}, "submit: a password is required, or the results are locked to the user's e-mail."),
    ],
)
def test_submissions_the_server_would_lose_are_refused_before_any_upload(
    recorded_server: RecordedServer,
    cloudgene: Connector,
    vcf: Callable[[str], InputFile],
    changes: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        cloudgene.submit(a_submission(vcf, **changes), token=CLOUDGENE_TOKEN)

    assert caught.value.message == message
    assert recorded_server.requests == []


def test_files_not_named_vcf_gz_are_refused_because_the_pipeline_would_ignore_them(
    recorded_server: RecordedServer, cloudgene: Connector, vcf: Callable[[str], InputFile]
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        cloudgene.submit(a_submission(vcf, files=(vcf("chr20.vcf"), vcf("chr21.vcf.gz"))), token=CLOUDGENE_TOKEN)

    assert caught.value.message == "submit: the server ignores files not named *.vcf.gz: chr20.vcf."
    assert recorded_server.requests == []


def test_an_unknown_parameter_is_a_configuration_error(
    recorded_server: RecordedServer, cloudgene: Connector, vcf: Callable[[str], InputFile]
) -> None:
    recorded_server.fail(
        SUBMIT_PATH, status=400, body={"success": False, "message": "Parameter 'files-source' not found."}
    )

    with pytest.raises(ConfigurationError) as caught:
        cloudgene.submit(a_submission(vcf), token=CLOUDGENE_TOKEN)

    assert (caught.value.message, caught.value.status_code) == (
        "submit: HTTP 400: Parameter 'files-source' not found.",
        400,
    )


def test_the_concurrent_jobs_limit_is_a_quota_error_with_the_limit(
    recorded_server: RecordedServer, cloudgene: Connector, vcf: Callable[[str], InputFile]
) -> None:
    recorded_server.cloudgene_job([1])
    recorded_server.cloudgene_job([2])

    with pytest.raises(QuotaError) as caught:
        cloudgene.submit(a_submission(vcf), token=CLOUDGENE_TOKEN)

    assert (caught.value.message, caught.value.limit) == (
        "submit: Only 2 jobs per user can be executed simultaneously.",
        2,
    )


def test_a_plain_text_400_is_read_as_the_message(
    recorded_server: RecordedServer, cloudgene: Connector, vcf: Callable[[str], InputFile]
) -> None:
    recorded_server.fail(
        SUBMIT_PATH, status=400, body="java.lang.NullPointerException: refpanel", content_type="text/plain"
    )

    with pytest.raises(ConfigurationError) as caught:
        cloudgene.submit(a_submission(vcf), token=CLOUDGENE_TOKEN)

    assert caught.value.message == "submit: HTTP 400: java.lang.NullPointerException: refpanel"


def test_an_unknown_app_is_a_configuration_error(
    recorded_server: RecordedServer, vcf: Callable[[str], InputFile]
) -> None:
    legacy = connector_for(api_type="cloudgene", base_url=recorded_server.url, app_id="minimac4")

    with legacy, pytest.raises(ConfigurationError) as caught:
        legacy.submit(a_submission(vcf), token=CLOUDGENE_TOKEN)

    assert caught.value.message == "submit: HTTP 404: Application 'minimac4' not found."


@pytest.mark.parametrize(("token", "status"), [("expired-or-garbage", 401), (CLOUDGENE_REVOKED_TOKEN, 403)])
def test_rejected_credentials_are_a_credential_error_not_a_job_failure(
    recorded_server: RecordedServer, cloudgene: Connector, vcf: Callable[[str], InputFile], token: str, status: int
) -> None:
    job = recorded_server.cloudgene_job([2])

    with pytest.raises(CredentialError) as on_status:
        cloudgene.status(job.job_id, token=token)
    with pytest.raises(CredentialError) as on_submit:
        cloudgene.submit(a_submission(vcf), token=token)

    assert (on_status.value.status_code, on_submit.value.status_code) == (status, status)
    assert len(recorded_server.requests_to(f"/api/v2/jobs/{job.job_id}/status")) == 1


def test_maintenance_at_submit_is_unavailable_and_surely_not_accepted(
    recorded_server: RecordedServer, cloudgene: Connector, vcf: Callable[[str], InputFile]
) -> None:
    recorded_server.scenario.maintenance = True

    with pytest.raises(RemoteUnavailableError) as caught:
        cloudgene.submit(a_submission(vcf), token=CLOUDGENE_TOKEN)

    assert (caught.value.status_code, caught.value.outcome_unknown) == (503, False)
    assert caught.value.message == (
        "The service is unavailable (submit: HTTP 503: This functionality is currently under maintenance.)."
    )


def test_a_submit_that_times_out_has_an_unknown_outcome_and_is_not_repeated(
    recorded_server: RecordedServer, vcf: Callable[[str], InputFile]
) -> None:
    recorded_server.hang(SUBMIT_PATH, seconds=10)

    slow = connector_for(api_type="cloudgene", base_url=recorded_server.url, timeouts=Timeouts(1.0, 0.3))

    with slow, pytest.raises(RemoteUnavailableError) as caught:
        slow.submit(a_submission(vcf), token=CLOUDGENE_TOKEN)

    assert caught.value.outcome_unknown is True
    assert len(recorded_server.requests_to(SUBMIT_PATH)) == 1


def test_a_submit_with_an_unknown_outcome_is_reconciled_by_job_name(
    recorded_server: RecordedServer, cloudgene: Connector
) -> None:
    recorded_server.cloudgene_job([4], name="job-older")
    accepted = recorded_server.cloudgene_job([2], name="job-6f1c2a")
    recorded_server.cloudgene_job([1], name="job-other", username="bob")

    found = cloudgene.find_by_job_name("job-6f1c2a", token=CLOUDGENE_TOKEN)

    assert found == [RemoteJobRef(remote_job_id=accepted.job_id, raw_state="2", name="job-6f1c2a")]
    assert cloudgene.find_by_job_name("job-never-sent", token=CLOUDGENE_TOKEN) == []


def test_the_job_list_counts_active_jobs_also_on_cloudgene_2(
    recorded_server: RecordedServer, cloudgene: Connector
) -> None:
    recorded_server.scenario.legacy_job_list = True
    first = recorded_server.cloudgene_job([1], name="a")
    second = recorded_server.cloudgene_job([4], name="b")

    jobs = cloudgene.list_jobs(token=CLOUDGENE_TOKEN)

    assert jobs == [
        RemoteJobRef(remote_job_id=first.job_id, raw_state="1", name="a"),
        RemoteJobRef(remote_job_id=second.job_id, raw_state="4", name="b"),
    ]


def test_a_job_the_server_does_not_know_is_not_found(recorded_server: RecordedServer, cloudgene: Connector) -> None:
    with pytest.raises(NotFoundError) as caught:
        cloudgene.status("job-20250101-000000-001", token=CLOUDGENE_TOKEN)

    assert caught.value.message == "Not found (job status: HTTP 404: Job job-20250101-000000-001 not found.)."


def test_cancel_is_a_get_and_returns_the_cancelled_state(recorded_server: RecordedServer, cloudgene: Connector) -> None:
    job = recorded_server.cloudgene_job([2, 2, 2])
    cloudgene.status(job.job_id, token=CLOUDGENE_TOKEN)

    status = cloudgene.cancel(job.job_id, token=CLOUDGENE_TOKEN)

    assert (status.raw_state, status.state, status.finished) == ("6", "cancelled", True)
    assert recorded_server.last_request(f"/api/v2/jobs/{job.job_id}/cancel").method == "GET"


def test_a_cancel_that_lost_the_race_shows_the_remote_outcome(
    recorded_server: RecordedServer, cloudgene: Connector
) -> None:
    job = recorded_server.cloudgene_job([4])

    status = cloudgene.cancel(job.job_id, token=CLOUDGENE_TOKEN)

    assert (status.raw_state, status.state) == ("4", "downloading")


def test_a_dead_job_restarts_and_queues_again(recorded_server: RecordedServer, cloudgene: Connector) -> None:
    job = recorded_server.cloudgene_job([-1])
    dead = cloudgene.status(job.job_id, token=CLOUDGENE_TOKEN)

    cloudgene.restart(job.job_id, token=CLOUDGENE_TOKEN)
    again = cloudgene.status(job.job_id, token=CLOUDGENE_TOKEN, seen_states=[dead.raw_state])

    assert (dead.restartable, again.raw_state, again.state) == (True, "1", "submitted")


def test_only_a_dead_job_can_be_restarted(recorded_server: RecordedServer, cloudgene: Connector) -> None:
    job = recorded_server.cloudgene_job([2])

    with pytest.raises(InvalidStateError) as caught:
        cloudgene.restart(job.job_id, token=CLOUDGENE_TOKEN)

    assert caught.value.message == f"restart: Job {job.job_id} is not pending."
    assert len(recorded_server.requests_to(f"/api/v2/jobs/{job.job_id}/restart")) == 1


def test_logs_are_the_step_messages_in_order(recorded_server: RecordedServer, cloudgene: Connector) -> None:
    job = recorded_server.cloudgene_job([5])

    logs = cloudgene.logs(job.job_id, token=CLOUDGENE_TOKEN)

    assert [(entry.source, entry.level, entry.message) for entry in logs] == [
        (
            "Input Validation",
            "info",
            "Statistics:\nAlternative allele frequency > 0.5 sites: 1,203\nSamples: 51\nChromosomes: 20",
        ),
        ("Quality Control", "error", "Error: No chunks passed the QC step. Imputation cannot be started!"),
    ]


def test_cloudgene_has_no_drs(cloudgene: Connector) -> None:
    with pytest.raises(UnsupportedOperationError):
        cloudgene.resolve_drs("drs://example.org/obj-1")
