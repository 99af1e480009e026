"""Every Cloudgene state code read through the connector onto the central state machine (protocols.md §8.2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from apps.connectors.public import Connector, LogEntry
from apps.connectors.tests.payloads import VALIDATION_FAILURE
from apps.connectors.tests.recorded_server import CLOUDGENE_TOKEN, RecordedServer

QC_MESSAGE = "Error: No chunks passed the QC step. Imputation cannot be started!"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (1, {"state": "submitted", "finished": False, "failure_category": None, "failure_message": ""}),
        (2, {"state": "running", "finished": False, "failure_category": None, "failure_message": ""}),
        (3, {"state": "exporting", "finished": False, "failure_category": None, "failure_message": ""}),
        (4, {"state": "downloading", "finished": True, "failure_category": None, "failure_message": ""}),
        (5, {"state": "failed", "finished": True, "failure_category": "qc", "failure_message": QC_MESSAGE}),
        (6, {"state": "cancelled", "finished": True, "failure_category": None, "failure_message": ""}),
        (
            7,
            {
                "state": "failed",
                "finished": True,
                "failure_category": "expired",
                "failure_message": "The results were retired after the retention period before they were downloaded.",
            },
        ),
        (8, {"state": "downloading", "finished": True, "failure_category": None, "failure_message": ""}),
        (9, {"state": "failed", "finished": True, "failure_category": "qc", "failure_message": QC_MESSAGE}),
        (
            10,
            {
                "state": "failed",
                "finished": True,
                "failure_category": "expired",
                "failure_message": "The results were deleted on the remote server before they were downloaded.",
            },
        ),
        (
            -1,
            {
                "state": "failed",
                "finished": True,
                "failure_category": "remote_system",
                "failure_message": "The remote server restarted while the job was active; the job can be restarted.",
            },
        ),
    ],
)
def test_each_state_code_maps_to_its_central_state(
    recorded_server: RecordedServer, cloudgene: Connector, code: int, expected: dict[str, Any]
) -> None:
    job = recorded_server.cloudgene_job([code])

    status = cloudgene.status(job.job_id, token=CLOUDGENE_TOKEN)

    assert status.raw_state == str(code)
    assert {key: getattr(status, key) for key in expected} == expected
    assert status.restartable is (code == -1)


def test_a_cancelled_job_that_later_reads_9_stays_cancelled(
    recorded_server: RecordedServer, cloudgene: Connector
) -> None:
    job = recorded_server.cloudgene_job([2, 6, 9])
    seen: list[str] = []

    for _ in range(3):
        status = cloudgene.status(job.job_id, token=CLOUDGENE_TOKEN, seen_states=seen)
        seen.append(status.raw_state)

    assert seen == ["2", "6", "9"]
    assert (status.state, status.failure_category, status.finished) == ("cancelled", None, True)


def test_9_without_a_6_before_it_is_a_failure(recorded_server: RecordedServer, cloudgene: Connector) -> None:
    job = recorded_server.cloudgene_job([9])

    status = cloudgene.status(job.job_id, token=CLOUDGENE_TOKEN, seen_states=["1", "2", "5"])

    assert (status.state, status.failure_category) == ("failed", "qc")


def test_a_retired_job_whose_results_are_already_downloaded_is_completed(
    recorded_server: RecordedServer, cloudgene: Connector
) -> None:
    job = recorded_server.cloudgene_job([7])

    status = cloudgene.status(job.job_id, token=CLOUDGENE_TOKEN, seen_states=["4", "8"], already_downloaded=True)

    assert (status.state, status.failure_category, status.failure_message) == ("completed", None, "")


def test_a_job_walks_through_the_states_and_shows_its_queue_position_and_steps(
    recorded_server: RecordedServer, cloudgene: Connector
) -> None:
    job = recorded_server.cloudgene_job([1, 2, 3, 4])

    polls = [cloudgene.status(job.job_id, token=CLOUDGENE_TOKEN) for _ in range(4)]

    assert [(p.raw_state, p.state, p.queue_position) for p in polls] == [
        ("1", "submitted", 3),
        ("2", "running", None),
        ("3", "exporting", None),
        ("4", "downloading", None),
    ]
    assert [p.latest_message for p in polls] == [
        "",
        "Calculating QC Statistics...",
        "Imputation finished.",
        "Data have been exported successfully.",
    ]
    assert polls[1].messages == (
        LogEntry(
            source="Input Validation",
            message="Statistics:\nAlternative allele frequency > 0.5 sites: 1,203\nSamples: 51\nChromosomes: 20",
            level="info",
            time=datetime(2026, 1, 1, tzinfo=UTC),
        ),
        LogEntry(
            source="Quality Control",
            message="Calculating QC Statistics...",
            level="running",
            time=datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC),
        ),
    )


def test_a_notified_job_carries_its_retirement_date(recorded_server: RecordedServer, cloudgene: Connector) -> None:
    job = recorded_server.cloudgene_job([8])

    status = cloudgene.status(job.job_id, token=CLOUDGENE_TOKEN)

    assert status.retire_at == datetime(2026, 1, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("failure", "category", "message"),
    [
        (VALIDATION_FAILURE, "validation", "Error: At least 20 samples must be uploaded."),
        (("Quality Control", "Too many strand flips (312)."), "qc", "Error: Too many strand flips (312)."),
        (("Phasing with Eagle", "312 strand flips detected"), "qc", "Error: 312 strand flips detected"),
        (("Imputation", "Minimac4 exited with code 137."), "remote_pipeline", "Error: Minimac4 exited with code 137."),
    ],
)
def test_a_failure_is_classified_by_the_step_or_the_qc_wording_of_its_last_error(
    recorded_server: RecordedServer, cloudgene: Connector, failure: tuple[str, str], category: str, message: str
) -> None:
    job = recorded_server.cloudgene_job([5], failure=failure)

    status = cloudgene.status(job.job_id, token=CLOUDGENE_TOKEN)

    assert (status.state, status.failure_category, status.failure_message) == ("failed", category, message)
