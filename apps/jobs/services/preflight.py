"""Whether a job's input files suit the service and panel it targets, from their stored pre-flight reports.

The files context judged each file on its own (protocols.md §6); this judges the files against the job: the build
the user chose, the service's sample limits, and that a multi-file job has the same samples in every file (the
servers impute per chromosome and merge by sample). Messages say what to change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from apps.files.public import FileInfo
from apps.registry.public import ServiceRecord

WAITING = ("uploading", "validating")


def inputs_waiting(files: Sequence[FileInfo]) -> bool:
    """True while a file is still uploading or being validated: the job stays pending until the verdict."""
    return any(file.status in WAITING for file in files)


def input_problems(*, files: Sequence[FileInfo], service: ServiceRecord, build: str) -> list[str]:
    """Everything that stops these (judged) files from being submitted to `service` as `build`; [] when fine."""
    problems: list[str] = []
    for file in files:
        problems.extend(_file_problems(file, service=service, build=build))
    fingerprints = {_report(file).get("samples_sha256") for file in files if file.status == "ready"}
    if len(fingerprints - {None}) > 1:
        problems.append(
            "The input files hold different samples; every file of a job must list the same samples in the same "
            "order (split one multi-sample VCF per chromosome with bcftools view -r)."
        )
    return problems


def _report(file: FileInfo) -> dict[str, Any]:
    return dict(file.validation or {})


def _file_problems(file: FileInfo, *, service: ServiceRecord, build: str) -> list[str]:
    if file.kind != "input":
        return [f"File '{file.name}' is a result, not an input; upload the VCF you want imputed."]
    if file.status == "rejected":
        errors = [str(p.get("message")) for p in _report(file).get("problems") or [] if p.get("severity") == "error"]
        reason = errors[0] if errors else "see its validation report"
        return [f"Input file '{file.name}' was rejected by the pre-flight checks: {reason}"]
    if file.status != "ready":
        return []
    report = _report(file)
    problems = []
    detected = report.get("detected_build")
    if detected in ("hg19", "hg38") and detected != build:
        evidence = report.get("build_evidence") or "its contig lengths and positions"
        problems.append(
            f"Input file '{file.name}' looks like {detected} ({evidence}) but the job asks for {build}: choose "
            f"build {detected}, or lift the file over to {build} first."
        )
    samples = int(report.get("samples") or 0)
    if service.min_samples is not None and samples < service.min_samples:
        problems.append(
            f"Input file '{file.name}' has {samples} samples; {service.name} needs at least {service.min_samples}."
        )
    if service.max_samples is not None and samples > service.max_samples:
        problems.append(
            f"Input file '{file.name}' has {samples} samples; {service.name} accepts at most {service.max_samples} "
            "per job: split the samples into several jobs."
        )
    return problems
