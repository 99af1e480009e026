"""Retries with backoff for safe calls only: reads ride out 503s, submits and cancels are sent once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apps.connectors.public import (
    ConfigurationError,
    Connector,
    CredentialError,
    InputFile,
    JobSubmission,
    NotFoundError,
    ProtocolError,
    RemoteUnavailableError,
)
from apps.connectors.tests.recorded_server import CLOUDGENE_TOKEN, WES_TOKEN, RecordedServer


def test_a_status_read_rides_out_two_503s(recorded_server: RecordedServer, cloudgene: Connector) -> None:
    job = recorded_server.cloudgene_job([2])
    recorded_server.fail(f"/api/v2/jobs/{job.job_id}/status", status=503, times=2)

    status = cloudgene.status(job.job_id, token=CLOUDGENE_TOKEN)

    assert status.raw_state == "2"
    assert len(recorded_server.requests_to(f"/api/v2/jobs/{job.job_id}/status")) == 3


def test_a_read_gives_up_after_its_attempts_with_the_last_error(
    recorded_server: RecordedServer, cloudgene: Connector
) -> None:
    recorded_server.fail("/api/v2/server/apps/imputationserver2", status=502, body="Bad Gateway")

    with pytest.raises(RemoteUnavailableError) as caught:
        cloudgene.list_panels(token=CLOUDGENE_TOKEN)

    assert caught.value.message == "The service is unavailable (list panels: HTTP 502: Bad Gateway)."
    assert len(recorded_server.requests_to("/api/v2/server/apps/imputationserver2")) == 3


def test_a_retry_after_is_honoured_and_reported(recorded_server: RecordedServer, wes: Connector) -> None:
    recorded_server.fail("/ga4gh/wes/v1/runs", status=429, headers={"Retry-After": "0"}, body={"msg": "slow down"})

    with pytest.raises(RemoteUnavailableError) as caught:
        wes.list_jobs(token=WES_TOKEN)

    assert (caught.value.status_code, caught.value.retry_after) == (429, 0.0)
    assert len(recorded_server.requests_to("/ga4gh/wes/v1/runs")) == 3


@pytest.mark.parametrize(("status", "error"), [(401, CredentialError), (403, CredentialError), (404, NotFoundError)])
def test_client_errors_are_never_retried(
    recorded_server: RecordedServer, cloudgene: Connector, status: int, error: type[Exception]
) -> None:
    recorded_server.fail("/api/v2/jobs", status=status)

    with pytest.raises(error):
        cloudgene.list_jobs(token=CLOUDGENE_TOKEN)

    assert len(recorded_server.requests_to("/api/v2/jobs")) == 1


def test_a_malformed_answer_is_not_retried(recorded_server: RecordedServer, cloudgene: Connector) -> None:
    recorded_server.fail("/api/v2/jobs", status=200, body="<html>proxy login</html>", content_type="text/html")

    with pytest.raises(ProtocolError) as caught:
        cloudgene.list_jobs(token=CLOUDGENE_TOKEN)

    assert caught.value.message == "list jobs: the service answered HTTP 200 with a body that is not JSON."
    assert len(recorded_server.requests_to("/api/v2/jobs")) == 1


def test_a_cloudgene_submit_is_never_retried(
    recorded_server: RecordedServer, cloudgene: Connector, vcf: Callable[[str], InputFile]
) -> None:
    recorded_server.fail("/api/v2/jobs/submit/imputationserver2", status=500, body="Internal Server Error")
    submission = JobSubmission(job_id="job-1", refpanel="hrc-r1.1", password="pw-1", files=(vcf("chr1.vcf.gz"),))

    with pytest.raises(RemoteUnavailableError) as caught:
        cloudgene.submit(submission, token=CLOUDGENE_TOKEN)

    assert caught.value.outcome_unknown is True
    assert len(recorded_server.requests_to("/api/v2/jobs/submit/imputationserver2")) == 1


def test_a_wes_submit_is_never_retried(
    recorded_server: RecordedServer, wes: Connector, vcf: Callable[[str], InputFile]
) -> None:
    recorded_server.fail("/ga4gh/wes/v1/runs", status=503, method="POST")
    submission = JobSubmission(job_id="job-1", refpanel="h3africa-v6", password="pw-1", files=(vcf("chr1.vcf.gz"),))

    with pytest.raises(RemoteUnavailableError) as caught:
        wes.submit(submission, token=WES_TOKEN)

    assert caught.value.outcome_unknown is False
    assert len(recorded_server.requests_to("/ga4gh/wes/v1/runs", "POST")) == 1


def test_cancel_is_never_retried(recorded_server: RecordedServer, cloudgene: Connector) -> None:
    job = recorded_server.cloudgene_job([2])
    recorded_server.fail(f"/api/v2/jobs/{job.job_id}/cancel", status=503)

    with pytest.raises(RemoteUnavailableError):
        cloudgene.cancel(job.job_id, token=CLOUDGENE_TOKEN)

    assert len(recorded_server.requests_to(f"/api/v2/jobs/{job.job_id}/cancel")) == 1


def test_an_expired_token_fails_fast_for_the_caller_to_pause(
    recorded_server: RecordedServer, cloudgene: Connector
) -> None:
    job = recorded_server.cloudgene_job([2])

    with pytest.raises(CredentialError) as caught:
        cloudgene.status(job.job_id, token="expired")

    assert caught.value.message == (
        "The service rejected the credentials (job status: HTTP 401: Unauthorized). Ask the user for a new API token."
    )


def test_a_redirect_on_an_api_call_asks_for_the_base_url_to_be_fixed(
    recorded_server: RecordedServer, cloudgene: Connector
) -> None:
    recorded_server.fail(
        "/api/v2/jobs", status=301, body="", headers={"Location": "https://mis.example.org/api/v2/jobs"}
    )

    with pytest.raises(ConfigurationError) as caught:
        cloudgene.list_jobs(token=CLOUDGENE_TOKEN)

    assert caught.value.message == (
        "The service redirected list jobs to https://mis.example.org/api/v2/jobs: correct the service's base URL."
    )
    assert len(recorded_server.requests_to("/api/v2/jobs")) == 1
