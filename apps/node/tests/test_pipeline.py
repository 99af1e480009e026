import subprocess
from pathlib import Path

import pytest
from django.test import Client

from apps.node import pipeline, states
from apps.node.demo import DemoChromosome
from apps.node.models import LogMessage, NodeJob, NodeUser, OutputFile, Panel, Switches
from apps.node.tests.conftest import job_with_input

pytestmark = [pytest.mark.django_db(databases=["node"]), pytest.mark.urls("apps.node.api.urls")]


def test_a_job_runs_qc_beagle_and_exports_a_password_protected_zip(
    user: NodeUser, panel: Panel, demo_files: list[DemoChromosome], tmp_path: Path
) -> None:
    job = job_with_input(user, demo_files, r2Filter="0.3")

    pipeline.run(job.pk)

    job.refresh_from_db()
    steps = [step.name for step in job.steps.all()]
    assert (job.state, job.secret) == (states.SUCCESS, "")
    assert steps == [
        "Input Validation",
        "Quality Control",
        "Phasing and Imputation with Beagle",
        "Compression and Encryption",
    ]
    names = sorted(OutputFile.objects.filter(param__job=job, param__param_id="output").values_list("name", flat=True))
    assert names == [
        "chr_20.zip",
        "qc_report.txt",
        "statistics/chunks-excluded.txt",
        "statistics/snps-excluded.txt",
        "statistics/typed-only.txt",
    ]
    archive = OutputFile.objects.get(name="chr_20.zip")
    unzip = subprocess.run(["unzip", "-P", "s3cret-Pass", "-o", archive.path, "-d", str(tmp_path)], check=False)
    dose = subprocess.run(
        ["bcftools", "query", "-f", "%INFO/DR2\\n", str(tmp_path / "chr20.dose.vcf.gz")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert unzip.returncode == 0 and dose and min(float(value) for value in dose) >= 0.3
    assert subprocess.run(["unzip", "-P", "wrong", "-t", archive.path], capture_output=True).returncode != 0


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators")  # ASGI-first view
def test_results_download_counts_down_to_400(
    user: NodeUser, panel: Panel, demo_files: list[DemoChromosome], settings: object
) -> None:
    settings.NODE_MAX_DOWNLOADS = 1  # type: ignore[attr-defined]
    job = job_with_input(user, demo_files, mode="qc_only")
    pipeline.run(job.pk)
    report = OutputFile.objects.get(param__job=job, name="qc_report.txt")
    url = f"/share/results/{report.hash}/qc_report.txt"

    first, second = Client().get(url), Client().get(url)

    assert (first.status_code, b"".join(first).startswith(b"Statistics:")) == (200, True)
    assert (second.status_code, second.json()) == (
        400,
        {"success": False, "message": "number of max downloads exceeded."},
    )


def test_validation_failures_carry_the_genomics_message(
    user: NodeUser, panel: Panel, demo_files: list[DemoChromosome]
) -> None:
    job = job_with_input(user, demo_files, build="hg38")

    pipeline.run(job.pk)

    job.refresh_from_db()
    error = LogMessage.objects.filter(step__job=job, type=LogMessage.ERROR).last()
    assert job.state == states.FAILED
    assert error is not None and "hg38" in error.message and error.step.name == "Input Validation"


def test_no_vcf_gz_input_fails_with_cloudgenes_message(user: NodeUser, panel: Panel) -> None:
    job = job_with_input(user, [])

    pipeline.run(job.pk)

    error = LogMessage.objects.get(step__job_id=job.pk, type=LogMessage.ERROR)
    assert (NodeJob.objects.get(pk=job.pk).state, error.message) == (states.FAILED, "No vcf.gz input files detected.")


def test_strand_flips_over_the_threshold_fail_qc(
    user: NodeUser, panel: Panel, demo_files: list[DemoChromosome]
) -> None:
    Switches.put(qc_thresholds={"strand_flips": -1})
    flipped = job_with_input(user, [])
    source = demo_files[0].input
    target = Path(flipped.workspace) / "input" / "chr20.vcf.gz"
    complement = 'bcftools view {src} | awk \'BEGIN{{OFS="\\t";m["A"]="T";m["T"]="A";m["C"]="G";m["G"]="C"}}'
    complement += " /^#/{{print;next}} NR%2==0{{$4=m[$4];$5=m[$5]}} {{print}}' | bgzip > {dst}"
    subprocess.run(complement.format(src=source, dst=target), shell=True, check=True)

    pipeline.run(flipped.pk)

    error = LogMessage.objects.filter(step__job_id=flipped.pk, type=LogMessage.ERROR).last()
    assert NodeJob.objects.get(pk=flipped.pk).state == states.FAILED
    assert error is not None and error.message == (
        "More than -1 obvious strand flips have been detected. Please check strand. Imputation cannot be started!"
    )


def test_a_cancelled_job_does_not_run(user: NodeUser, panel: Panel, demo_files: list[DemoChromosome]) -> None:
    job = job_with_input(user, demo_files)
    NodeJob.objects.filter(pk=job.pk).update(state=states.CANCELED)

    pipeline.run(job.pk)

    assert (NodeJob.objects.get(pk=job.pk).state, job.steps.count()) == (states.CANCELED, 0)
