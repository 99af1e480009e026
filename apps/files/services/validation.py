"""The pre-flight check of a completed upload: inspect the stored bytes with apps.genomics, keep the report, set
`ready` or `rejected`, and publish `file.upload.completed` in the same transaction as that verdict.

Idempotent: only a file still `validating` is inspected, and the verdict is written under a row lock only if
nobody wrote one meanwhile, so a redelivered task changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from apps.files.events import file_upload_completed_record
from apps.files.models import DB, FileStatus, UploadedFile
from apps.files.naming import suffix_of
from apps.files.storage import BLOCK, storage_backend

logger = logging.getLogger(__name__)

BUILDS = ("hg19", "hg38")
UNREADABLE = {
    "severity": "error",
    "code": "unreadable",
    "message": (
        "The file could not be read as a VCF. Make sure it is a VCF compressed with bgzip (`bgzip file.vcf`), "
        "not plain gzip or another format, and that the upload was not cut short."
    ),
}


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _inspect(path: Path, *, name: str, expected_build: str | None) -> dict[str, Any]:
    """The genomics library's report as JSON; a file it cannot even open is rejected with a message, not a crash."""
    from apps.genomics.vcf import vcf_inspect  # a missing library is a deployment error: raised, never a verdict

    try:
        report = vcf_inspect(path, expected_build=expected_build, filename=name)
    except Exception:
        logger.exception("VCF inspection of %s failed", path.name)
        return {"problems": [UNREADABLE]}
    return dict(report.to_dict())


def _verdict(report: dict[str, Any]) -> str:
    problems = report.get("problems") or []
    return FileStatus.REJECTED if any(p.get("severity") == "error" for p in problems) else FileStatus.READY


def file_validate(*, file_id: int) -> str | None:
    """Judge a completed upload; returns the status it ends in (None when the file is gone)."""
    file = UploadedFile.objects.using(DB).filter(pk=file_id).first()
    if file is None or file.status != FileStatus.VALIDATING:
        return file.status if file else None
    build = file.metadata.get("build")
    suffix = suffix_of(file.name, list(settings.FILES_ALLOWED_SUFFIXES)) or ""
    with storage_backend().local_copy(file.storage_key, f"input{suffix}") as path:
        sha256 = file.sha256 or _sha256_of(path)
        report = _inspect(path, name=file.name, expected_build=build if build in BUILDS else None)
    with transaction.atomic(using=DB):
        file = UploadedFile.objects.using(DB).select_for_update().filter(pk=file_id).first()
        if file is None or file.status != FileStatus.VALIDATING:
            return file.status if file else None
        file.status, file.validation_report, file.sha256 = _verdict(report), report, sha256
        file.save(using=DB, update_fields=["status", "validation_report", "sha256", "updated_at"])
        file_upload_completed_record(file)
    return file.status
