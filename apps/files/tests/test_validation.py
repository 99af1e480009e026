"""Pre-flight validation of completed uploads on simulated genotypes: ready or rejected with the genomics report,
`file.upload.completed` recorded with the verdict in the same transaction, idempotent on redelivery."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from apps.files.models import DB, FileStatus, UploadedFile
from apps.files.services.validation import file_validate
from apps.files.tests.helpers import TUS, auth, b64, events, files_commits, sha256, stored, tus_patch, upload
from apps.genomics.simulate import vcf_simulate

pytestmark = [pytest.mark.django_db(databases=["files"]), pytest.mark.redis]

OWNER = 71


@pytest.fixture(scope="module")
def vcfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Small realistic per-chromosome files: a good one and one breaking a rule, plus a ZIP named like a VCF."""
    root = tmp_path_factory.mktemp("vcfs")
    made = {}
    for name, defects in (("good", ()), ("few_samples", ("few_samples",)), ("zip", ("zip",))):
        path = root / f"{name}.vcf.gz"
        vcf_simulate(path, samples=30, sites=1500, length=4_000_000, build="hg38", seed=7, defects=defects)
        made[name] = path.read_bytes()
    return made


def test_a_good_file_becomes_ready_with_its_report_and_event(client: Client, vcfs: dict[str, bytes]) -> None:
    file_id = upload(client, OWNER, vcfs["good"], name="chr20.vcf.gz", chunk=10_000)

    file = stored(file_id)
    assert file.status == FileStatus.READY
    assert file.validation_report is not None
    report = file.validation_report
    assert (report["content"], report["compression"], report["samples"], report["variants"]) == (
        "vcf",
        "bgzf",
        30,
        1500,
    )
    assert (report["filename"], report["detected_build"], report["problems"], report["ok"]) == (
        "chr20.vcf.gz",
        "hg38",
        [],
        True,
    )
    assert events() == [
        {
            "topic": "file.upload.completed",
            "file_id": file_id,
            "owner_id": OWNER,
            "name": "chr20.vcf.gz",
            "kind": "input",
            "size": len(vcfs["good"]),
            "sha256": sha256(vcfs["good"]),
            "status": "ready",
            "job_id": None,
            "errors": [],
            "error_count": 0,
            "warning_count": 0,
        }
    ]


def test_a_file_breaking_a_rule_is_rejected_with_the_specific_message(client: Client, vcfs: dict[str, bytes]) -> None:
    file_id = upload(client, OWNER, vcfs["few_samples"])

    file = stored(file_id)
    problems = (file.validation_report or {})["problems"]
    assert file.status == FileStatus.REJECTED
    assert [(p["severity"], p["code"]) for p in problems] == [("error", "too_few_samples")]
    assert problems[0]["message"].startswith("At least 20 samples must be uploaded. This file has 5")
    [event] = events()
    assert (event["status"], event["error_count"], event["errors"]) == (
        "rejected",
        1,
        [{"code": "too_few_samples", "message": problems[0]["message"]}],
    )


def test_content_that_does_not_match_the_name_is_rejected_not_crashed_on(
    client: Client, vcfs: dict[str, bytes]
) -> None:
    file_id = upload(client, OWNER, vcfs["zip"])

    file = stored(file_id)
    assert file.status == FileStatus.REJECTED
    assert (file.validation_report or {})["content"] == "zip"


def test_the_declared_build_is_checked(client: Client, vcfs: dict[str, bytes]) -> None:
    data = vcfs["good"]
    headers = {
        **TUS,
        **auth(OWNER),
        "Upload-Length": str(len(data)),
        "Upload-Metadata": f"filename {b64('chr20.vcf.gz')},build {b64('hg19')}",
    }
    file_id = client.post("/api/files/uploads/", headers=headers).json()["id"]

    tus_patch(client, OWNER, file_id, offset=0, data=data)

    file = stored(file_id)
    assert file.metadata == {"build": "hg19"}
    assert file.status == FileStatus.REJECTED
    assert (file.validation_report or {})["expected_build"] == "hg19"


def test_validating_again_changes_nothing(client: Client, vcfs: dict[str, bytes]) -> None:
    file_id = upload(client, OWNER, vcfs["good"])

    again = file_validate(file_id=file_id)

    assert again == FileStatus.READY
    assert len(events()) == 1


def test_a_file_without_a_running_hash_gets_its_sha256_from_the_stored_bytes(
    client: Client, vcfs: dict[str, bytes], media: Path
) -> None:
    file_id = upload(client, OWNER, vcfs["good"])
    UploadedFile.objects.using(DB).filter(pk=file_id).update(status=FileStatus.VALIDATING, sha256="")

    with files_commits():
        file_validate(file_id=file_id)

    assert stored(file_id).sha256 == sha256(vcfs["good"])
