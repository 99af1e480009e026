"""The imputation pipeline of one job: validation, QC, Beagle per chromosome, r2 filter, encrypted zips.

Steps and their messages are written to the job as they happen (clients poll them). Between steps, and while
Beagle runs, the job's state is re-read: a cancel (or a server restart) stops the pipeline and kills Beagle. A WES
cancel only asks (the run reads CANCELING); the pipeline confirms it once it has stopped.

Test switches read here: `fail_validation`/`fail_qc` (a message; the step fails with it), `hold_running` and
`hold_exporting` (the job waits in that state while the switch is on, so a test can act on it there) and
`stop_delay_seconds` (how long stopping takes after a WES cancel, so CANCELING can be seen).
"""

from __future__ import annotations

import gzip
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.genomics.builds import chromosome_normalise
from apps.genomics.vcf import MIS2_RULES, vcf_inspect, vcf_set_check
from apps.node import engine, states
from apps.node.fetch import FetchError, pull_names, url_fetch, url_shown
from apps.node.models import LogMessage, NodeJob, Panel, Step, Switches
from apps.node.qc import QcResult, QcThresholds, qc_chromosome

_ALWAYS_POPULATIONS = frozenset({"off", "mixed", "all"})
HOLD_MAX_SECONDS = 120.0  # a held job moves on by itself after this, so a forgotten switch never wedges a worker


class Stopped(Exception):
    """The job left RUNNING/EXPORTING under us (cancelled, or declared DEAD): stop quietly."""


def run(job_id: str) -> None:
    job = NodeJob.objects.get(pk=job_id)
    if not engine.transition(job, states.RUNNING, expected=[states.WAITING]):
        return
    try:
        _run(job)
    except Stopped:
        if NodeJob.objects.filter(pk=job_id, state=states.RUNNING, cancel_requested=True).exists():
            time.sleep(min(float(Switches.current().get("stop_delay_seconds", 0)), 30.0))
            engine.cancel_confirm(job)
    finally:  # the zip password never outlives a finished job (a DEAD one keeps it for its restart)
        NodeJob.objects.filter(pk=job_id, state__in=[states.FAILED, states.CANCELED, states.SUCCESS]).update(secret="")


def _run(job: NodeJob) -> None:
    params, workspace = job.params, Path(job.workspace)
    switches = Switches.current()
    step = engine.step_start(job, "Input Validation")
    _hold(job, "hold_running")
    problem = engine.beagle_problem()
    if problem:
        return engine.fail(job, step, problem)
    try:
        inputs_pull(job, step)
    except FetchError as exc:
        return engine.fail(job, step, f"An input file could not be downloaded: {exc}")
    inputs = sorted((workspace / "input").glob("*.vcf.gz"))
    if not inputs:
        return engine.fail(job, step, "No vcf.gz input files detected.")
    if switches.get("fail_validation"):
        return engine.fail(job, step, str(switches["fail_validation"]))
    panel = panel_find(str(params.get("refpanel") or ""))
    if panel is None:
        return engine.fail(job, step, f"Application {params.get('refpanel')} is not installed or wrong permissions.")
    populations = {str(item["id"]) for item in panel.populations} | _ALWAYS_POPULATIONS
    rules = replace(
        MIS2_RULES,
        phasing=str(params.get("phasing") or "eagle"),
        population=str(params.get("population") or "off"),
        panel_populations=frozenset(populations),
    )
    build = str(params.get("build") or "hg19")
    reports = [vcf_inspect(path, expected_build=build, rules=rules) for path in inputs]
    errors = [problem.message for report in reports for problem in report.errors]
    errors += [problem.message for problem in vcf_set_check(reports, rules=rules) if problem.severity == "error"]
    if errors:
        return engine.fail(job, step, "\n".join(errors))
    if build != panel.build:
        return engine.fail(
            job,
            step,
            f"The data build {build} differs from the panel build {panel.build}; this node does not lift over.",
        )
    chromosomes = [chromosome_normalise(report.chromosomes[0].name) for report in reports if report.chromosomes]
    engine.log(
        step,
        f"{len(inputs)} valid VCF file(s)<br>Samples: {reports[0].samples}<br>Chromosomes: {' '.join(chromosomes)}"
        f"<br>SNPs: {sum(report.variants for report in reports)}<br>Reference Panel: {panel.slug} ({panel.build})",
    )
    _check(job)

    step = engine.step_start(job, "Quality Control")
    thresholds = _thresholds(switches)
    results: list[tuple[str, Path, QcResult]] = []
    for path, chromosome in zip(inputs, chromosomes, strict=True):
        panel_file = panel.files.get(chromosome)
        if not panel_file:
            engine.log(step, f"Chromosome {chromosome} is not in the panel {panel.slug}; skipped.", LogMessage.WARNING)
            continue
        target = workspace / "qc" / f"chr{chromosome}.qc.vcf.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
        results.append((chromosome, target, qc_chromosome(path, Path(panel_file), target, thresholds)))
        _check(job)
    statistics = qc_files(workspace, [result for _, _, result in results])
    report = qc_report(results, thresholds)
    (workspace / "output").mkdir(parents=True, exist_ok=True)
    (workspace / "output" / "qc_report.txt").write_text(report)
    engine.log(step, report.replace("\n", "<br>"))
    flips = sum(result.strand_flips for _, _, result in results)
    switches_seen = sum(result.allele_switches for _, _, result in results)
    failure = ""
    if switches.get("fail_qc"):
        failure = str(switches["fail_qc"])
    elif flips > thresholds.strand_flips:
        failure = (
            f"More than {thresholds.strand_flips} obvious strand flips have been detected. Please check strand. "
            "Imputation cannot be started!"
        )
    elif thresholds.allele_switches >= 0 and switches_seen > thresholds.allele_switches:
        failure = (
            f"More than {thresholds.allele_switches} allele switches have been detected. Imputation cannot be started!"
        )
    elif not any(result.chunks_kept for _, _, result in results):
        failure = "No chunks passed the QC step. Imputation cannot be started!"
    qc_outputs = [("qc_report.txt", workspace / "output" / "qc_report.txt"), *statistics]
    if failure:
        engine.output_add(job, "output", "Downloads", qc_outputs)
        return engine.fail(job, step, failure)
    if str(params.get("mode") or "imputation") != "imputation":
        engine.log(step, "Quality control only: no imputation was run.")
        return _export(job, qc_outputs, [], [])
    _check(job)

    step = engine.step_start(job, "Phasing and Imputation with Beagle")
    imputed: list[tuple[str, Path, Path]] = []
    logs: list[tuple[str, Path]] = []
    r2 = float(params.get("r2Filter") or 0)
    for chromosome, target, result in results:
        if not result.chunks_kept:
            continue
        out = workspace / "beagle" / f"chr{chromosome}"
        out.parent.mkdir(parents=True, exist_ok=True)
        engine.log(step, f"Chromosome {chromosome}: phasing and imputing {result.kept} typed sites", LogMessage.RUNNING)
        started = time.monotonic()
        code = beagle(job, target, Path(panel.files[chromosome]), out)
        logs.append((f"beagle-chr{chromosome}.log", out.with_suffix(".log")))
        if code != 0:
            tail = _tail(out.with_suffix(".log"))
            return engine.fail(job, step, f"Imputation of chromosome {chromosome} failed (Beagle exit {code}). {tail}")
        dose, info, count = dose_write(
            out.with_name(out.name + ".vcf.gz"),
            workspace / "output",
            chromosome,
            r2=r2,
            panel=panel.slug,
            contig=result.chromosome,
        )
        imputed.append((chromosome, dose, info))
        engine.log(
            step,
            f"Chromosome {chromosome}: {count} variants imputed in {time.monotonic() - started:.1f} s"
            + (f" (r2 >= {r2:g})" if r2 else ""),
        )
    _check(job)
    return _export(job, qc_outputs, imputed, logs)


def _export(
    job: NodeJob,
    qc_outputs: list[tuple[str, Path]],
    imputed: list[tuple[str, Path, Path]],
    logs: list[tuple[str, Path]],
) -> None:
    if not engine.transition(job, states.EXPORTING, expected=[states.RUNNING], cancel_requested=False):
        raise Stopped  # cancelled (or asked to be) before export began: this is the last point to stop
    step = engine.step_start(job, "Compression and Encryption")
    engine.log(step, "Compressing and encrypting the results", LogMessage.RUNNING)
    _hold(job, "hold_exporting")
    password = job.secret or engine.password_random()
    zips: list[tuple[str, Path]] = []
    for chromosome, dose, info in imputed:
        archive = Path(job.workspace) / "output" / f"chr_{chromosome}.zip"
        archive.unlink(missing_ok=True)
        done = subprocess.run(
            ["zip", "-q", "-j", "-P", password, str(archive), str(dose), str(info)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode:
            return engine.fail(job, step, f"Compression of chromosome {chromosome} failed: {done.stderr.strip()}")
        zips.append((archive.name, archive))
    if job.params.get("aesEncryption"):
        engine.log(step, "AES encryption is not available on this node; the zips use standard zip encryption.", 2)
    if not job.params.get("password_given"):
        engine.log(step, f"Data have been exported successfully. We have sent you the password: {password}")
    else:
        engine.log(step, "Data have been exported successfully.")
    engine.output_add(job, "output", "Downloads", [*zips, *qc_outputs])
    if logs:
        engine.output_add(job, "cloudgene_logs", "Logs", [item for item in logs if item[1].exists()])
    NodeJob.objects.filter(pk=job.pk).update(secret="")
    engine.transition(job, states.SUCCESS, expected=[states.EXPORTING])


def beagle(job: NodeJob, target: Path, reference: Path, out: Path) -> int:
    """Beagle 5 (phasing + imputation) as a child process with a time limit; killed when the job is cancelled."""
    argv = [
        settings.NODE_BEAGLE,
        f"gt={target}",
        f"ref={reference}",
        f"out={out}",
        f"nthreads={settings.NODE_BEAGLE_THREADS}",
    ]
    deadline = time.monotonic() + settings.NODE_BEAGLE_TIMEOUT_SECONDS
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as process:
        while True:
            try:
                process.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline or not _running(job):
                    process.kill()
                    process.wait()
                    if time.monotonic() > deadline:
                        return -9
                    raise Stopped from None
        if process.stderr is not None:
            errors = process.stderr.read().decode(errors="replace")
            if errors.strip():
                with out.with_suffix(".log").open("a") as handle:
                    handle.write(errors)
        return process.returncode


def dose_write(
    beagle_vcf: Path, folder: Path, chromosome: str, *, r2: float, panel: str, contig: str = ""
) -> tuple[Path, Path, int]:
    """chrN.dose.vcf.gz (with the pipeline header lines, sites with DR2 >= r2) and chrN.info.gz, via bcftools."""
    dose = folder / f"chr{chromosome}.dose.vcf.gz"
    info = folder / f"chr{chromosome}.info.gz"
    lines = folder.parent / "beagle" / f"chr{chromosome}.header.txt"
    contig_line = [f"##contig=<ID={contig}>"] if contig else []  # Beagle writes no ##contig lines
    lines.write_text(
        "\n".join([*contig_line, "##mis_pipeline=reference-node", "##mis_phasing=beagle", f"##mis_panel={panel}"])
        + "\n"
    )
    annotate = subprocess.Popen(
        ["bcftools", "annotate", "-h", str(lines), "-Ou", str(beagle_vcf)], stdout=subprocess.PIPE
    )
    view = subprocess.run(
        ["bcftools", "view", "-i", f"INFO/DR2>={r2:g}", "-Oz", "-o", str(dose), "-"],
        stdin=annotate.stdout,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    annotate.wait(timeout=600)
    if annotate.returncode or view.returncode:
        raise RuntimeError(f"bcftools could not write {dose.name}: {view.stderr.strip()}")
    rows = subprocess.run(
        [
            "bcftools",
            "query",
            "-f",
            "%CHROM:%POS:%REF:%ALT\\t%REF\\t%ALT\\t%INFO/AF\\t%INFO/DR2\\t%INFO/IMP\\n",
            str(dose),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout.splitlines()
    with gzip.open(info, "wt") as table:
        table.write("SNP\tREF(0)\tALT(1)\tALT_Frq\tMAF\tRsq\tGenotyped\n")
        for row in rows:
            snp, ref, alt, frequency, quality, imputed = row.split("\t")
            value = float(frequency)
            kind = "Imputed" if imputed == "1" else "Genotyped"
            table.write(f"{snp}\t{ref}\t{alt}\t{value:.5f}\t{min(value, 1 - value):.5f}\t{quality}\t{kind}\n")
    return dose, info, len(rows)


def qc_files(workspace: Path, results: list[QcResult]) -> list[tuple[str, Path]]:
    folder = workspace / "output" / "statistics"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, header, rows in (
        ("snps-excluded.txt", "#Position\tFilterType", [row for result in results for row in result.excluded]),
        (
            "chunks-excluded.txt",
            "#Chunk\tSNPs\tOverlap\tWorstSampleCallRate",
            [row for result in results for row in result.chunks_excluded],
        ),
        ("typed-only.txt", "#Marker", [row for result in results for row in result.typed_only]),
    ):
        path = folder / name
        path.write_text("\n".join([header, *rows]) + "\n")
        written.append((f"statistics/{name}", path))
    return written


def qc_report(results: list[tuple[str, Path, QcResult]], thresholds: QcThresholds) -> str:
    total: dict[str, int] = {}
    for _, _, result in results:
        for key, value in result.counts.items():
            total[key] = total.get(key, 0) + value
    lines = [
        "Statistics:",
        "Alternative allele frequency > 0.5 sites: n/a",
        f"Reference Overlap: {sum(result.kept for _, _, result in results)} sites kept",
        f"Match: {sum(result.kept for _, _, result in results)}",
        f"Allele switch: {total.get('allele_switch', 0)}",
        f"Strand flip: {total.get('strand_flip', 0)}",
        f"Strand flip and allele switch: {total.get('flip_and_switch', 0)}",
        f"A/T, C/G genotypes: {total.get('strand_ambiguous', 0)}",
        "Filtered sites:",
        f"Filter flag set: {total.get('filtered', 0)}",
        f"Invalid alleles: {total.get('invalid_alleles', 0)}",
        f"Multiallelic sites: {total.get('multiallelic', 0)}",
        f"Duplicated sites: {total.get('duplicate', 0)}",
        f"NonSNP sites: {total.get('indel', 0)}",
        f"Monomorphic sites: {total.get('monomorphic', 0)}",
        f"Allele mismatch: {total.get('allele_mismatch', 0)}",
        f"SNPs call rate < {thresholds.snp_call_rate:.0%}: {total.get('low_call_rate', 0)}",
        f"Typed only sites: {total.get('typed_only', 0)}",
        f"Excluded chunks: {sum(len(result.chunks_excluded) for _, _, result in results)}",
        f"Remaining chunks: {sum(result.chunks_kept for _, _, result in results)}",
    ]
    return "\n".join(lines) + "\n"


def panel_find(refpanel: str) -> Panel | None:
    """`apps@<id>@<version>`, `apps@<id>` or `<id>` (protocols.md §1.4): the prefix and the version are optional."""
    slug = refpanel.removeprefix("apps@").split("@")[0]
    return Panel.objects.filter(slug=slug).first()


def _thresholds(switches: dict[str, Any]) -> QcThresholds:
    overrides = switches.get("qc_thresholds") or {}
    return replace(QcThresholds(), **{key: value for key, value in overrides.items() if hasattr(QcThresholds, key)})


def inputs_pull(job: NodeJob, step: Step) -> None:
    """Download the run's input URLs (WES pull) into its input folder, one message per file."""
    urls = [str(url) for url in job.params.get("input_urls") or []]
    for url, name in zip(urls, pull_names(urls), strict=True):
        _check(job)
        path = url_fetch(url, Path(job.workspace) / "input" / name)
        engine.log(step, f"Downloaded {path.name} ({path.stat().st_size} bytes) from {url_shown(url)}")


def _hold(job: NodeJob, switch: str) -> None:
    deadline = time.monotonic() + HOLD_MAX_SECONDS
    while Switches.current().get(switch) and time.monotonic() < deadline:
        _check(job)
        time.sleep(0.2)


def _running(job: NodeJob) -> bool:
    """Still the pipeline's to run: RUNNING or EXPORTING, and no WES cancel asked while running."""
    return (
        NodeJob.objects.filter(pk=job.pk, state__in=[states.RUNNING, states.EXPORTING])
        .exclude(state=states.RUNNING, cancel_requested=True)
        .exists()
    )


def _check(job: NodeJob) -> None:
    if not _running(job):
        raise Stopped


def _tail(path: Path) -> str:
    if not path.exists():
        return ""
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return " ".join(lines[-3:])[:500]
