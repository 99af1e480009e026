"""The generator: realistic, deterministic files that htslib reads as the inspection does, and the demo command."""

from __future__ import annotations

from pathlib import Path

import cyvcf2
import numpy as np
import pytest
from django.core.management import call_command

from apps.genomics.simulate import DEFECTS, vcf_simulate
from apps.genomics.vcf import vcf_inspect, vcf_set_check


def test_a_simulated_file_reads_the_same_in_htslib(tmp_path: Path) -> None:
    # given a simulated file of 40 people and 500 SNVs on hg38
    written = vcf_simulate(
        tmp_path / "cohort.vcf.gz", samples=40, sites=500, length=2_000_000, build="hg38", seed=3, index=True
    )

    # when cyvcf2 (htslib) reads it
    reader = cyvcf2.VCF(str(written.path))
    variants = list(reader)

    # then it has what the generator said, phased, with genotypes that vary like real ones
    assert (written.chromosome, written.samples, written.variants) == ("chr20", 40, 500)
    assert len(reader.samples) == 40
    assert len(variants) == 500
    assert {v.CHROM for v in variants} == {"chr20"}
    assert (written.first_position, written.last_position) == (variants[0].POS, variants[-1].POS)
    assert all(v.gt_phases.all() for v in variants)
    frequencies = np.array([v.aaf for v in variants])
    assert frequencies.min() > 0 and frequencies.max() < 1
    assert np.median(frequencies) < 0.2  # most segregating sites are rare, as in a real population
    assert Path(f"{written.path}.tbi").exists()


def test_the_same_seed_gives_the_same_file(tmp_path: Path) -> None:
    # given two files simulated with one seed and one with another
    first = vcf_simulate(tmp_path / "a.vcf.gz", samples=20, sites=100, length=500_000, build="hg19", seed=5)
    second = vcf_simulate(tmp_path / "b.vcf.gz", samples=20, sites=100, length=500_000, build="hg19", seed=5)
    other = vcf_simulate(tmp_path / "c.vcf.gz", samples=20, sites=100, length=500_000, build="hg19", seed=6)

    # then the bytes repeat only for the same seed
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.path.read_bytes() != other.path.read_bytes()


def test_unphased_files_write_genotypes_with_a_slash(tmp_path: Path) -> None:
    # given an unphased file / when htslib reads it / then no genotype is phased
    written = vcf_simulate(
        tmp_path / "u.vcf.gz", samples=20, sites=50, length=500_000, build="hg19", seed=1, phased=False
    )
    assert not any(v.gt_phases.any() for v in cyvcf2.VCF(str(written.path)))


def test_an_unknown_defect_is_refused(tmp_path: Path) -> None:
    # given a misspelt defect / when simulating / then the known ones are listed
    with pytest.raises(ValueError, match=r"unknown defects \['unsortd'\]"):
        vcf_simulate(tmp_path / "x.vcf.gz", samples=20, length=100_000, build="hg19", seed=1, defects={"unsortd"})


def test_every_defect_breaks_the_rule_it_is_for(tmp_path: Path) -> None:
    # given one file per defect / when each is inspected with the default (Michigan) rules and no phasing choice
    codes = {}
    for defect in DEFECTS:
        path = vcf_simulate(
            tmp_path / f"{defect}.vcf.gz",
            samples=30,
            sites=300,
            length=1_000_000,
            build="hg19",
            seed=2,
            defects={defect},
        ).path
        codes[defect] = [p.code for p in vcf_inspect(path, expected_build="hg19").problems]

    # then each yields its own problem (see test_vcf_*.py for the messages)
    assert codes == {
        "plain_gzip": ["not_bgzf"],
        "uncompressed": ["not_compressed"],
        "unsorted": ["unsorted"],
        "truncated": ["truncated"],
        "missing_eof": ["missing_bgzf_eof"],
        "not_vcf": ["not_vcf"],
        "zip": ["not_vcf"],
        "space_delimited": ["not_tab_delimited"],
        "sample_column_mismatch": ["sample_columns"],
        "mixed_chromosomes": ["multiple_chromosomes"],
        "wrong_build_contigs": ["build_mismatch"],
        "wrong_build_positions": ["build_mismatch"],
        "no_contig_header": [],
        "ref_equals_alt": ["ref_equals_alt"],
        "duplicate_samples": ["duplicate_samples"],
        "few_samples": ["too_few_samples"],
        "mixed_phasing": ["mixed_phasing"],
        "vcf_4_3": [],
        "no_gt": ["missing_gt"],
        "extra_format_fields": ["extra_format_fields"],
        "multiallelic": ["multiallelic"],
        "duplicate_positions": ["duplicate_positions"],
        "filtered": ["filtered"],
    }


def test_the_demo_command_writes_one_indexed_file_per_chromosome(tmp_path: Path) -> None:
    # given an empty directory
    # when the command writes chromosomes 21 and 22 for hg38
    call_command(
        "genomics_simulate", str(tmp_path), "--chromosomes", "21,22", "--samples", "25", "--length", "500000",
        "--build", "hg38", "--seed", "4",
    )  # fmt: skip

    # then both files are there, indexed, valid for hg38 and consistent as a set
    paths = sorted(tmp_path.glob("*.vcf.gz"))
    assert [p.name for p in paths] == ["demo.chr21.vcf.gz", "demo.chr22.vcf.gz"]
    assert all(Path(f"{p}.tbi").exists() for p in paths)
    reports = [vcf_inspect(p, expected_build="hg38") for p in paths]
    assert [(r.problems, r.samples, r.chromosomes[0].name) for r in reports] == [((), 25, "chr21"), ((), 25, "chr22")]
    assert vcf_set_check(reports) == ()


def test_an_index_is_refused_for_a_file_tabix_cannot_index(tmp_path: Path) -> None:
    # given an unsorted file asked for with an index / when simulating / then the conflict is named
    with pytest.raises(ValueError, match=r"tabix cannot index a file with \['unsorted'\]"):
        vcf_simulate(
            tmp_path / "x.vcf.gz", samples=20, length=100_000, build="hg19", seed=1, defects={"unsorted"}, index=True
        )
