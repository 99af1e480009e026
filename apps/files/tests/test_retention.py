"""Retention: abandoned uploads and expired files are deleted, stuck validations queued again, and storage
reconciled with the database (orphans reported first, deleted only after the grace period)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.files.models import DB, FileStatus, StorageOrphan, UploadedFile
from apps.files.services.retention import RetentionReport, retention_run
from apps.files.tests.helpers import files_commits, stored, tus_create, tus_patch, upload

pytestmark = [pytest.mark.django_db(databases=["files"]), pytest.mark.redis]

OWNER = 81
DAY = timedelta(days=1)


def _run(at: timedelta = timedelta(0)) -> RetentionReport:
    with files_commits():
        return retention_run(now=timezone.now() + at)


def test_an_abandoned_upload_is_deleted_with_its_bytes(client: Client, media: Path) -> None:
    file_id = tus_create(client, OWNER, length=1000).json()["id"]
    tus_patch(client, OWNER, file_id, offset=0, data=b"x" * 100)
    key = stored(file_id).storage_key

    early = _run(timedelta(hours=23))
    late = _run(timedelta(hours=25))

    assert (early.uploads_expired, late.uploads_expired) == (0, 1)
    assert not UploadedFile.objects.using(DB).filter(pk=file_id).exists()
    assert not (media / key).exists()


def test_an_upload_with_a_patch_in_flight_is_left_alone(client: Client) -> None:
    file_id = tus_create(client, OWNER, length=1000).json()["id"]
    UploadedFile.objects.using(DB).filter(pk=file_id).update(
        expires_at=timezone.now() - DAY, lease_token="busy", lease_until=timezone.now() + timedelta(minutes=5)
    )

    assert _run().uploads_expired == 0


def test_inputs_expire_after_the_retention_period(client: Client) -> None:
    upload(client, OWNER, b"y" * 100)

    assert (_run(29 * DAY).files_expired, _run(31 * DAY).files_expired) == (0, 1)


def test_a_stuck_validation_is_queued_again(client: Client, settings: Any) -> None:
    file_id = upload(client, OWNER, b"z" * 100)
    UploadedFile.objects.using(DB).filter(pk=file_id).update(
        status=FileStatus.VALIDATING, updated_at=timezone.now() - timedelta(hours=1)
    )

    report = _run()

    assert report.validations_requeued == 1
    assert stored(file_id).status == FileStatus.REJECTED  # the eager task judged it again


def test_an_orphan_is_reported_then_deleted_only_after_the_grace_period(client: Client, media: Path) -> None:
    upload(client, OWNER, b"k" * 100)
    stray = media / "uploads" / "stray"
    stray.write_bytes(b"left behind")

    first = _run()
    within_grace = _run(timedelta(hours=23))
    StorageOrphan.objects.using(DB).update(first_seen_at=timezone.now() - timedelta(hours=25))
    after_grace = _run()

    assert (first.orphans_found, first.orphans_deleted) == (["uploads/stray"], [])
    assert (within_grace.orphans_found, within_grace.orphans_deleted) == ([], [])
    assert after_grace.orphans_deleted == ["uploads/stray"]
    assert not stray.exists()


def test_a_file_whose_bytes_vanished_is_reported_not_changed(client: Client, media: Path) -> None:
    file_id = upload(client, OWNER, b"m" * 100)
    (media / stored(file_id).storage_key).unlink()

    report = _run()

    assert report.missing == [file_id]
    assert stored(file_id).status == FileStatus.REJECTED
