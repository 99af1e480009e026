"""Fetching a finished job's results once, verifying them, and storing them through the files context.

Each file is downloaded once (Cloudgene counts downloads), to a spool file, verified (a zip must open with the
job's password and its `.vcf.gz` members must be BGZF), then handed to the files context, which keeps it. The job
remembers each stored file, so a retry after a crash fetches only what is missing; and a verified download stays in
the job's spool folder (with a note of what was verified) until it is stored, so a retry after a failure past the
download (the files context down, a worker killed) stores it without spending another of the file's downloads.
`completed` is reached only when every file is stored, as the state machine requires; the spool folder goes when
the job has finished.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.connectors import states as remote
from apps.connectors.public import (
    ChecksumMismatchError,
    Connector,
    DownloadExhaustedError,
    NotReadyError,
    RemoteUnavailableError,
    ResultFile,
)
from apps.files.public import FilesError, get_files_service
from apps.jobs.models import ImputationJob, Stage, Status
from apps.jobs.services.dispatch import job_reschedule
from apps.jobs.services.transitions import job_fail, job_transition
from apps.kernel.connections import connections_release

logger = logging.getLogger(__name__)

BGZF_MAGIC = b"\x1f\x8b\x08\x04"  # gzip with FEXTRA: BGZF blocks carry their size in the extra field
BGZF_SUBFIELD = b"BC"
QC_FIELDS = {
    "allele_switches": r"Allele switch:\s*(\d+)",
    "strand_flips": r"Strand flip:\s*(\d+)",
    "strand_flip_and_allele_switch": r"Strand flip and allele switch:\s*(\d+)",
    "typed_only": r"Typed only sites:\s*(\d+)",
    "excluded_chunks": r"Excluded chunks:\s*(\d+)",
    "remaining_chunks": r"Remaining chunks:\s*(\d+)",
    "reference_overlap": r"Reference Overlap:\s*(\d+)",
    "samples": r"Samples:\s*(\d+)",
    "variants_typed": r"Variants typed:\s*(\d+)",
    "variants_imputed": r"Variants imputed:\s*(\d+)",
}


class ResultInvalid(Exception):
    """A downloaded result is not what it should be; the message names the file and what is wrong."""


def result_type_of(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith((".zip", ".vcf.gz", ".dose.vcf.gz")):
        return "imputed"
    if "qc" in lowered or (lowered.endswith((".html", ".txt")) and "log" not in lowered):
        return "qc_report"
    return "log"


def result_verify(path: Path, *, name: str, password: str) -> None:
    """A zip opens with the job's password and every `.vcf.gz` inside is BGZF; a bare `.vcf.gz` is BGZF."""
    if name.lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as archive:
                members = archive.infolist()
                if not members:
                    raise ResultInvalid(f"The result {name} is an empty zip.")
                for member in members:
                    with archive.open(member, pwd=password.encode()) as stream:
                        head = stream.read(18)
                        if member.filename.endswith(".vcf.gz") and not _is_bgzf(head):
                            raise ResultInvalid(f"{member.filename} in {name} is not BGZF-compressed.")
                        while stream.read(1024 * 1024):  # the CRC is checked only once a member is read to its end
                            pass
        except RuntimeError as exc:  # zipfile's "Bad password for file"
            raise ResultInvalid(f"The result {name} does not open with this job's password ({exc}).") from None
        except zipfile.BadZipFile as exc:
            raise ResultInvalid(f"The result {name} is not a valid zip ({exc}).") from None
    elif name.lower().endswith(".vcf.gz"):
        with path.open("rb") as stream:
            if not _is_bgzf(stream.read(18)):
                raise ResultInvalid(f"The result {name} is not BGZF-compressed.")


def qc_summary_parse(text: str) -> dict[str, int]:
    """The counts of a Cloudgene-style qc_report.txt that the UI shows next to the results."""
    summary = {}
    for key, pattern in QC_FIELDS.items():
        match = re.search(pattern, text)
        if match:
            summary[key] = int(match.group(1))
    return summary


def job_results_fetch(job: ImputationJob, *, connector: Connector, token: str) -> None:
    try:
        listed = connector.results(job.external_job_id, token=token)
    except RemoteUnavailableError as down:
        job_reschedule(job, backoff=True, retry_after=down.retry_after)
        return
    stored = {entry["name"]: entry for entry in job.results if entry.get("file_id")}
    records: list[dict[str, Any]] = list(stored.values())
    password = job.password()
    files_service = get_files_service()
    todo = [result for result in listed if result.name not in stored]
    spool = results_spool(job)
    spool.mkdir(parents=True, exist_ok=True)
    qc_summary = dict(job.qc_summary)
    try:
        for position, result in enumerate(todo, start=1):
            record = _fetch_one(job, result, connector=connector, token=token, spool=spool, password=password)
            if record is None:
                if job.status in (Status.FAILED, Status.CANCELLED):
                    shutil.rmtree(spool, ignore_errors=True)
                return  # the job was failed, or rescheduled (verified downloads stay in the spool)
            if record["result_type"] == "qc_report" and record["name"].endswith(".txt"):
                qc_summary |= qc_summary_parse((spool / _safe(result.name)).read_text(errors="replace"))
            info = files_service.result_store(
                owner_id=job.owner_id,
                job_id=str(job.pk),
                name=result.name,
                result_type=record["result_type"],
                source=spool / _safe(result.name),
                sha256=record["sha256"],
                expires_at=job.retire_at,
                zip_password=password if result.name.lower().endswith(".zip") else "",
                source_url=result.url,
            )
            _spooled_forget(spool, result.name)
            record["file_id"] = info.id
            records.append(record)
            progress = 90 + round(9 * (len(stored) + position) / max(1, len(listed)))
            job_transition(
                job,
                stage=Stage.DOWNLOADING,
                progress=progress,
                message=f"Stored {result.name}.",
                results=records,
                result_file_ids=[entry["file_id"] for entry in records],
                qc_summary=qc_summary,
            )
    except FilesError as exc:
        logger.warning("job %s: the files context could not store a result: %s", job.pk, exc)
        job_reschedule(job, backoff=True)
        return
    shutil.rmtree(spool, ignore_errors=True)
    if not records:
        job_fail(
            job,
            category=remote.DOWNLOAD,
            message="The service reported success but listed no result files.",
        )
        return
    job_transition(
        job,
        stage=Stage.DONE,
        message=f"Completed: {len(records)} result files stored.",
        results=records,
        result_file_ids=[entry["file_id"] for entry in records],
        qc_summary=qc_summary,
    )


def results_spool(job: ImputationJob) -> Path:
    """The job's own folder for results in transit: the same for every attempt, so a verified download is reused."""
    return Path(settings.JOBS_SPOOL_DIR) / f"results-{job.pk}"


def _spooled(spool: Path, name: str) -> dict[str, Any] | None:
    """The record of a download verified by an earlier attempt whose file is still whole in the spool, or None."""
    dest, note = spool / _safe(name), spool / f"{_safe(name)}.verified.json"
    try:
        record: dict[str, Any] = json.loads(note.read_text())
        if record.get("name") == name and record.get("size") == dest.stat().st_size:
            return record
    except (OSError, ValueError):
        pass
    return None


def _spooled_forget(spool: Path, name: str) -> None:
    (spool / _safe(name)).unlink(missing_ok=True)
    (spool / f"{_safe(name)}.verified.json").unlink(missing_ok=True)


def _fetch_one(
    job: ImputationJob, result: ResultFile, *, connector: Connector, token: str, spool: Path, password: str
) -> dict[str, Any] | None:
    dest = spool / _safe(result.name)
    kept = _spooled(spool, result.name)
    if kept is not None:
        logger.info("job %s: %s was downloaded and verified before; storing that copy", job.pk, result.name)
        return kept
    connections_release()  # the download may take hours: no database connection held idle meanwhile
    try:
        downloaded = connector.download(result, dest=dest, token=token)
        result_verify(dest, name=result.name, password=password)
    except DownloadExhaustedError as exhausted:
        job_fail(
            job,
            category=remote.DOWNLOAD,
            message=f"{result.name} has no downloads left on the service ({exhausted.message}).",
        )
        return None
    except ResultInvalid as invalid:
        job_fail(job, category=remote.DOWNLOAD, message=str(invalid))
        return None
    except NotReadyError as staging:
        job_reschedule(job, seconds=staging.retry_after or settings.JOBS_POLL_RUNNING_SECONDS)
        return None
    except (RemoteUnavailableError, ChecksumMismatchError) as transient:
        logger.warning("job %s: download of %s failed: %s", job.pk, result.name, transient.message)
        job_reschedule(job, backoff=True)
        return None
    record = {
        "name": result.name,
        "result_type": result_type_of(result.name),
        "size": downloaded.size,
        "sha256": downloaded.sha256,
        "downloads_left": downloaded.downloads_left,
        "source_url": result.url,
    }
    (spool / f"{_safe(result.name)}.verified.json").write_text(json.dumps(record))
    return record


def _safe(name: str) -> str:
    """A spool file name from a remote-supplied name: its last path piece, safe characters only."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name) or "result"


def _is_bgzf(head: bytes) -> bool:
    return head.startswith(BGZF_MAGIC) and head[12:14] == BGZF_SUBFIELD
