"""Demo panels and inputs from one msprime simulation, so the node works offline and results can be scored.

The simulated people are split in two: most become the reference panel, the rest are the "study" whose
genotypes are reduced to an array-like subset of common sites (the input) while all their sites are kept as the
truth for the masked ones.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pysam

from apps.genomics.builds import Build
from apps.genomics.simulate import vcf_simulate
from apps.node.models import Panel


@dataclass(frozen=True)
class DemoChromosome:
    chromosome: str
    panel: Path
    input: Path
    truth: Path


def demo_build(
    folder: Path,
    *,
    slug: str,
    build: Build,
    chromosomes: tuple[str, ...] = ("20", "22"),
    panel_samples: int = 250,
    study_samples: int = 100,
    length: int = 2_000_000,
    array_every: int = 4,
    seed: int = 7,
) -> tuple[Panel, list[DemoChromosome]]:
    """Write panel, input and truth VCFs per chromosome into `folder` and register the panel."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for offset, chromosome in enumerate(chromosomes):
        full = folder / f"full.chr{chromosome}.vcf.gz"
        vcf_simulate(
            full,
            samples=panel_samples + study_samples,
            length=length,
            chromosome=chromosome,
            build=build,
            seed=seed + offset,
        )
        made.append(_split(full, folder, chromosome, panel_samples, array_every))
        full.unlink()
    panel, _ = Panel.objects.update_or_create(
        slug=slug,
        defaults={
            "name": f"Demo panel {slug} ({build}, {2 * panel_samples} haplotypes)",
            "build": build,
            "populations": [{"id": "mixed", "name": "Mixed", "samples": panel_samples}],
            "files": {item.chromosome: str(item.panel) for item in made},
            "samples": panel_samples,
            "variants": sum(_count(item.panel) for item in made),
            "description": "Simulated with msprime for demonstrations and tests.",
        },
    )
    return panel, made


def _split(full: Path, folder: Path, chromosome: str, panel_samples: int, array_every: int) -> DemoChromosome:
    """bcftools does the cutting: panel people (polymorphic sites), study truth, every n-th common site as input."""
    paths = DemoChromosome(
        chromosome,
        folder / f"panel.chr{chromosome}.vcf.gz",
        folder / f"input.chr{chromosome}.vcf.gz",
        folder / f"truth.chr{chromosome}.vcf.gz",
    )
    with pysam.VariantFile(str(full)) as source:
        names = list(source.header.samples)
    panel_list, study_list = folder / "panel.samples", folder / "study.samples"
    panel_list.write_text("\n".join(names[:panel_samples]) + "\n")
    study_list.write_text("\n".join(names[panel_samples:]) + "\n")
    _bcftools("view", "-S", str(panel_list), "-c", "1:minor", "-Oz", "-o", str(paths.panel), str(full))
    _bcftools("index", "-t", "-f", str(paths.panel))
    _bcftools("view", "-S", str(study_list), "-T", str(paths.panel), "-Oz", "-o", str(paths.truth), str(full))
    _bcftools("index", "-t", "-f", str(paths.truth))
    common = subprocess.run(
        ["bcftools", "query", "-i", "MAF>=0.05", "-f", "%CHROM\\t%POS\\n", str(paths.panel)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    sites = folder / f"array.chr{chromosome}.tsv"
    sites.write_text("\n".join(common[::array_every]) + "\n")
    _bcftools("view", "-T", str(sites), "-Oz", "-o", str(paths.input), str(paths.truth))
    _bcftools("index", "-t", "-f", str(paths.input))
    for leftover in (panel_list, study_list, sites):
        leftover.unlink()
    return paths


def _bcftools(*argv: str) -> None:
    subprocess.run(["bcftools", *argv], capture_output=True, text=True, check=True, timeout=600)


def _count(path: Path) -> int:
    with pysam.VariantFile(str(path)) as source:
        return sum(1 for _ in source)
