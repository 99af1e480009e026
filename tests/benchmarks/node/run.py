"""Node imputation benchmark: accuracy of one demo job against the simulated truth, next to Beagle run directly.

One run, in a temporary directory (deleted unless --keep), with its own node database and NODE_DIR:

  1. simulates a demo panel and a demo input with apps/node/demo.py (what `manage.py node_demo_panels` does):
     held-out study people typed on every --array-every-th common panel site, and their full truth;
  2. submits the input as a node job and runs the node's pipeline in this process (validation, QC, Beagle,
     r2 filter, password-protected zip), then unzips the imputed chrN.dose.vcf.gz as a user would;
  3. runs `beagle gt=<input> ref=<panel> out=<dir>` on the same files, without the node;
  4. scores both on the masked sites (truth sites the input does not type) that are common in the panel
     (MAF >= --maf): mean dosage r2 (squared Pearson correlation of DS with the true allele count, per site) and
     genotype concordance (best-guess GT against the truth, over every site and person), and the node/direct ratio.

A measurement, not a test: exit 0 whatever the figures (the goal is mean r2 >= 0.8), non-zero when the job fails.

    .venv/bin/python tests/benchmarks/node/run.py [--length 2000000] [--panel-samples 250] [--study-samples 100]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "Bench-Pass-1!"


@dataclass(frozen=True)
class Score:
    sites: int  # masked common sites in the truth
    scored: int  # of those, imputed and polymorphic in the truth (r2 is undefined on a constant truth)
    missing: int  # masked common sites absent from the imputed file
    mean_r2: float
    concordance: float


def site_r2(dosages: list[float], truth: list[int]) -> float | None:
    """Squared Pearson correlation; None when the truth is constant, 0 when only the dosages are."""
    count = len(truth)
    mean_d, mean_t = sum(dosages) / count, sum(truth) / count
    var_t = sum((value - mean_t) ** 2 for value in truth)
    if var_t == 0:
        return None
    var_d = sum((value - mean_d) ** 2 for value in dosages)
    if var_d == 0:
        return 0.0
    covariance = sum((d - mean_d) * (t - mean_t) for d, t in zip(dosages, truth, strict=True))
    return covariance**2 / (var_d * var_t)


def score(
    truth: dict[int, list[int]],
    imputed: dict[int, tuple[list[float], list[int]]],
    masked_common: set[int],
) -> Score:
    """Scores imputed (DS, best-guess allele count) per position against the true allele counts."""
    r2_values: list[float] = []
    agree = total = missing = 0
    for position in sorted(masked_common):
        if position not in imputed:
            missing += 1
            continue
        dosages, calls = imputed[position]
        expected = truth[position]
        agree += sum(call == value for call, value in zip(calls, expected, strict=True))
        total += len(expected)
        value = site_r2(dosages, expected)
        if value is not None:
            r2_values.append(value)
    return Score(
        sites=len(masked_common),
        scored=len(r2_values),
        missing=missing,
        mean_r2=sum(r2_values) / len(r2_values) if r2_values else math.nan,
        concordance=agree / total if total else math.nan,
    )


def allele_counts(path: Path) -> dict[int, list[int]]:
    """Position -> alternate allele count per person, for biallelic sites with complete genotypes."""
    import pysam

    counts: dict[int, list[int]] = {}
    with pysam.VariantFile(str(path)) as source:
        for record in source:
            alleles = [sample["GT"] for sample in record.samples.values()]
            if len(record.alts or ()) == 1 and all(None not in gt for gt in alleles):
                counts[record.pos] = [sum(gt) for gt in alleles]
    return counts


def dosages(path: Path) -> dict[int, tuple[list[float], list[int]]]:
    """Position -> (DS, best-guess allele count) per person from a Beagle output VCF."""
    import pysam

    found: dict[int, tuple[list[float], list[int]]] = {}
    with pysam.VariantFile(str(path)) as source:
        for record in source:
            samples = list(record.samples.values())
            ds = [float(_first(sample["DS"])) for sample in samples]
            found[record.pos] = (ds, [sum(allele or 0 for allele in sample["GT"]) for sample in samples])
    return found


def common_positions(panel: Path, maf: float) -> set[int]:
    """Positions whose minor allele frequency among the panel's haplotypes is at least `maf`."""
    common = set()
    for position, counts in allele_counts(panel).items():
        frequency = sum(counts) / (2 * len(counts))
        if min(frequency, 1 - frequency) >= maf:
            common.add(position)
    return common


def node_job(demo: Any, panel_slug: str, folder: Path) -> tuple[Path, float]:
    """Submit the demo input as a node job, run the pipeline here, unzip the result: (dose VCF, seconds)."""
    from apps.node import engine, pipeline, states
    from apps.node.models import LogMessage, NodeJob, NodeUser, OutputFile

    user, _ = NodeUser.objects.get_or_create(username="benchmark")
    params = {
        "refpanel": f"apps@{panel_slug}@1.0.0",
        "build": "hg19",
        "phasing": "eagle",
        "mode": "imputation",
        "population": "off",
        "r2Filter": "0",
        "password_given": True,
    }
    job = engine.job_create(user, name="benchmark", params=params, password=PASSWORD)
    shutil.copy(demo.input, Path(job.workspace) / "input" / demo.input.name)
    started = time.monotonic()
    pipeline.run(job.pk)
    seconds = time.monotonic() - started
    job = NodeJob.objects.get(pk=job.pk)
    if job.state != states.SUCCESS:
        errors = LogMessage.objects.filter(step__job=job, type=LogMessage.ERROR).values_list("message", flat=True)
        raise SystemExit(f"node job {job.pk} ended in state {job.state}: {' | '.join(errors)}")
    archive = OutputFile.objects.get(param__job=job, name=f"chr_{demo.chromosome}.zip")
    target = folder / "node-result"
    subprocess.run(["unzip", "-q", "-o", "-P", PASSWORD, archive.path, "-d", str(target)], check=True)
    return target / f"chr{demo.chromosome}.dose.vcf.gz", seconds


def beagle_direct(demo: Any, folder: Path, threads: int) -> tuple[Path, float]:
    """Beagle 5 on the same input and panel, no node in between: (output VCF, seconds)."""
    out = folder / "direct" / f"chr{demo.chromosome}"
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    subprocess.run(
        ["beagle", f"gt={demo.input}", f"ref={demo.panel}", f"out={out}", f"nthreads={threads}"],
        check=True,
        capture_output=True,
    )
    return out.with_name(out.name + ".vcf.gz"), time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chromosome", default="20")
    parser.add_argument("--length", type=int, default=2_000_000)
    parser.add_argument("--panel-samples", type=int, default=250)
    parser.add_argument("--study-samples", type=int, default=100)
    parser.add_argument("--array-every", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--maf", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="node-bench-", dir=args.dir))
    try:
        return _measure(args, folder)
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def _measure(args: argparse.Namespace, folder: Path) -> int:
    # a private node: its own database and workspaces under the temporary directory, Beagle as the node runs it
    os.environ.update(VAR_DIR=str(folder / "var"), NODE_DIR=str(folder / "node"), NODE_BEAGLE_THREADS=str(args.threads))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    import logging

    import pysam

    logging.getLogger("msprime").setLevel(logging.WARNING)
    pysam.set_verbosity(0)  # htslib's notes about missing indexes of files read once, front to back
    call_command("migrate", "node", database="node", verbosity=0)
    from apps.node.demo import demo_build

    started = time.monotonic()
    panel, made = demo_build(
        folder / "demo",
        slug="bench-hg19",
        build="hg19",
        chromosomes=(args.chromosome,),
        panel_samples=args.panel_samples,
        study_samples=args.study_samples,
        length=args.length,
        array_every=args.array_every,
        seed=args.seed,
    )
    demo = made[0]
    print(
        f"demo chr{demo.chromosome}: {panel.variants} panel sites, {2 * args.panel_samples} haplotypes, "
        f"{args.study_samples} study people, built in {time.monotonic() - started:.1f} s"
    )
    node_vcf, node_seconds = node_job(demo, panel.slug, folder)
    direct_vcf, direct_seconds = beagle_direct(demo, folder, args.threads)

    truth = allele_counts(demo.truth)
    typed = set(allele_counts(demo.input))
    masked_common = (set(truth) - typed) & common_positions(demo.panel, args.maf)
    print(f"typed sites {len(typed)}, masked sites with MAF >= {args.maf:g} in the panel: {len(masked_common)}")
    rows = [
        ("node pipeline", score(truth, dosages(node_vcf), masked_common), node_seconds),
        ("beagle direct", score(truth, dosages(direct_vcf), masked_common), direct_seconds),
    ]
    print(f"{'':16}{'scored':>8}{'missing':>9}{'mean r2':>10}{'concord.':>10}{'seconds':>9}")
    for name, result, seconds in rows:
        print(
            f"{name:16}{result.scored:>8}{result.missing:>9}{result.mean_r2:>10.4f}"
            f"{result.concordance:>10.4f}{seconds:>9.1f}"
        )
    node, direct = rows[0][1], rows[1][1]
    print(
        f"{'node / direct':16}{'':>17}{node.mean_r2 / direct.mean_r2:>10.4f}"
        f"{node.concordance / direct.concordance:>10.4f}{node_seconds / direct_seconds:>9.2f}"
    )
    print(f"goal mean r2 >= 0.8 on common masked variants: {'met' if node.mean_r2 >= 0.8 else 'NOT met'}")
    return 0


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, tuple) else value


if __name__ == "__main__":
    sys.exit(main())
