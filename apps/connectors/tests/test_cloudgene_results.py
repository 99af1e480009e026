"""Cloudgene results and downloads: anonymous links, counters respected, no retry storms (protocols.md §1.7, §8.2.5)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from apps.connectors.public import (
    Connector,
    DownloadExhaustedError,
    DownloadResult,
    RemoteUnavailableError,
    ResultFile,
)
from apps.connectors.tests.recorded_server import CLOUDGENE_TOKEN, CloudgeneJob, RecordedServer

ZIP = b"PK\x03\x04" + bytes(range(256)) * 64  # 16 KiB + 4
QC_REPORT = b"Remaining sites in total: 7,824\n"


def a_finished_job(
    recorded_server: RecordedServer, *, count: int = 10, drops: int = 0, redirect: bool = False
) -> CloudgeneJob:
    job = recorded_server.cloudgene_job([4])
    recorded_server.result_file(job, "chr_20.zip", ZIP, count=count, drops=drops, redirect=redirect)
    recorded_server.result_file(job, "qc_report.txt", QC_REPORT, count=-1)
    recorded_server.result_file(job, "step1-nextflow.log", b"N E X T F L O W\n", param="cloudgene_logs")
    return job


def test_results_are_the_output_files_with_anonymous_links_and_counters(
    recorded_server: RecordedServer, cloudgene: Connector
) -> None:
    job = a_finished_job(recorded_server)
    zip_blob, qc_blob, _ = job.blobs

    results = cloudgene.results(job.job_id, token=CLOUDGENE_TOKEN)

    assert results == [
        ResultFile(
            name="chr_20.zip",
            url=f"{recorded_server.url}/share/results/{zip_blob.hash}/chr_20.zip",
            group="output",
            size=16 * 1024,
            size_label="16 KB",
            downloads_left=10,
        ),
        ResultFile(
            name="qc_report.txt",
            url=f"{recorded_server.url}/share/results/{qc_blob.hash}/qc_report.txt",
            group="output",
            size=32,
            size_label="32 bytes",
            downloads_left=None,
        ),
    ]


def test_the_logs_param_is_listed_only_when_asked(recorded_server: RecordedServer, cloudgene: Connector) -> None:
    job = a_finished_job(recorded_server)

    results = cloudgene.results(job.job_id, token=CLOUDGENE_TOKEN, include_logs=True)

    assert [(item.group, item.name) for item in results] == [
        ("output", "chr_20.zip"),
        ("output", "qc_report.txt"),
        ("cloudgene_logs", "step1-nextflow.log"),
    ]


def test_a_download_is_written_whole_with_its_checksum_and_spends_one_count(
    recorded_server: RecordedServer, cloudgene: Connector, tmp_path: Path
) -> None:
    job = a_finished_job(recorded_server)
    result = cloudgene.results(job.job_id, token=CLOUDGENE_TOKEN)[0]

    downloaded = cloudgene.download(result, dest=tmp_path / "out" / "chr_20.zip", token=CLOUDGENE_TOKEN)

    assert downloaded == DownloadResult(
        path=tmp_path / "out" / "chr_20.zip", size=len(ZIP), sha256=hashlib.sha256(ZIP).hexdigest(), downloads_left=9
    )
    assert downloaded.path.read_bytes() == ZIP
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["chr_20.zip"]
    assert job.blobs[0].count == 9
    assert "x-auth-token" not in recorded_server.last_request("/share/results/*").headers


def test_a_redirect_to_presigned_storage_is_followed_without_the_token(
    recorded_server: RecordedServer, cloudgene: Connector, tmp_path: Path
) -> None:
    job = a_finished_job(recorded_server, redirect=True)
    result = cloudgene.results(job.job_id, token=CLOUDGENE_TOKEN)[0]

    downloaded = cloudgene.download(result, dest=tmp_path / "chr_20.zip", token=CLOUDGENE_TOKEN)

    assert downloaded.path.read_bytes() == ZIP
    storage = recorded_server.last_request("/presigned/*")
    assert storage.query == {"X-Amz-Signature": ["recorded"]}
    assert "x-auth-token" not in storage.headers and "authorization" not in storage.headers


def test_a_file_with_no_downloads_left_is_not_requested_at_all(
    recorded_server: RecordedServer, cloudgene: Connector, tmp_path: Path
) -> None:
    job = a_finished_job(recorded_server, count=0)
    result = cloudgene.results(job.job_id, token=CLOUDGENE_TOKEN)[0]

    with pytest.raises(DownloadExhaustedError):
        cloudgene.download(result, dest=tmp_path / "chr_20.zip")

    assert result.downloads_left == 0
    assert recorded_server.requests_to("/share/results/*") == []


def test_an_exhausted_counter_answer_ends_the_download_after_one_request(
    recorded_server: RecordedServer, cloudgene: Connector, tmp_path: Path
) -> None:
    job = a_finished_job(recorded_server, count=5)
    stale = cloudgene.results(job.job_id, token=CLOUDGENE_TOKEN)[0]  # read while 5 were left
    job.blobs[0].count = 0  # someone else used them up since

    with pytest.raises(DownloadExhaustedError) as caught:
        cloudgene.download(stale, dest=tmp_path / "chr_20.zip")

    assert caught.value.status_code == 400
    assert len(recorded_server.requests_to("/share/results/*")) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_dropped_connection_is_retried_and_the_retry_spends_a_count(
    recorded_server: RecordedServer, cloudgene: Connector, tmp_path: Path
) -> None:
    job = a_finished_job(recorded_server, drops=1)
    result = cloudgene.results(job.job_id, token=CLOUDGENE_TOKEN)[0]

    downloaded = cloudgene.download(result, dest=tmp_path / "chr_20.zip")

    assert (downloaded.size, downloaded.downloads_left) == (len(ZIP), 8)
    assert downloaded.path.read_bytes() == ZIP
    assert len(recorded_server.requests_to("/share/results/*")) == 2


def test_retries_of_dropped_connections_never_exceed_the_downloads_left(
    recorded_server: RecordedServer, cloudgene: Connector, tmp_path: Path
) -> None:
    job = a_finished_job(recorded_server, count=2, drops=10)
    result = cloudgene.results(job.job_id, token=CLOUDGENE_TOKEN)[0]

    with pytest.raises(RemoteUnavailableError):
        cloudgene.download(result, dest=tmp_path / "chr_20.zip")

    assert len(recorded_server.requests_to("/share/results/*")) == 2
    assert list(tmp_path.iterdir()) == []


def test_a_server_error_on_a_download_is_not_retried(
    recorded_server: RecordedServer, cloudgene: Connector, tmp_path: Path
) -> None:
    job = a_finished_job(recorded_server)
    result = cloudgene.results(job.job_id, token=CLOUDGENE_TOKEN)[0]
    recorded_server.fail("/share/results/*", status=503, body="Service Unavailable")

    with pytest.raises(RemoteUnavailableError) as caught:
        cloudgene.download(result, dest=tmp_path / "chr_20.zip")

    assert caught.value.status_code == 503
    assert len(recorded_server.requests_to("/share/results/*")) == 1
