"""Rules over all the files of one job: 3 (one file per chromosome, TOPMed), 8 (same samples), 11 (population)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from apps.genomics.tests.support import rewrite, simulate
from apps.genomics.vcf import MIS2_RULES, TIS_RULES, Problem, vcf_inspect, vcf_set_check


def test_files_of_different_chromosomes_and_the_same_samples_pass(tmp_path: Path) -> None:
    # given chromosomes 20 and 21 of the same 30 people
    reports = [vcf_inspect(simulate(tmp_path, f"chr{c}.vcf.gz", chromosome=c, seed=int(c))) for c in ("20", "21")]

    # when the set is checked for TOPMed / then nothing is wrong
    assert vcf_set_check(reports, rules=TIS_RULES) == ()


def test_topmed_refuses_two_files_of_one_chromosome(tmp_path: Path) -> None:
    # given two files of chromosome 20
    reports = [vcf_inspect(simulate(tmp_path, f"part{n}.vcf.gz", seed=n)) for n in (1, 2)]

    # when the set is checked for TOPMed and for Michigan
    topmed, michigan = vcf_set_check(reports, rules=TIS_RULES), vcf_set_check(reports, rules=MIS2_RULES)

    # then TOPMed makes it an error, Michigan a warning
    assert topmed == (
        Problem(
            "error",
            "duplicate_chromosome",
            "Chromosome 20 is in more than one file (part1.vcf.gz, part2.vcf.gz): TOPMed Imputation Server accepts only"
            " one file per chromosome. Merge them into one file (`bcftools concat -a -Oz -o merged.vcf.gz part1.vcf.gz"
            " part2.vcf.gz`) or leave all but one out.",
        ),
    )
    assert [(p.severity, p.message.split(": ")[1].split(".")[0]) for p in michigan] == [
        ("warning", "the results would hold that chromosome twice")
    ]


def test_chr20_and_20_count_as_the_same_chromosome(tmp_path: Path) -> None:
    # given one file named chr20 and one named 20 / when checked for TOPMed / then they collide
    reports = [
        vcf_inspect(simulate(tmp_path, "a.vcf.gz", chr_prefix=True)),
        vcf_inspect(simulate(tmp_path, "b.vcf.gz", chr_prefix=False)),
    ]
    assert [p.code for p in vcf_set_check(reports, rules=TIS_RULES)] == ["duplicate_chromosome"]


def test_files_with_different_sample_counts_are_rejected(tmp_path: Path) -> None:
    # given chromosome 20 of 30 people and chromosome 21 of 31
    reports = [
        vcf_inspect(simulate(tmp_path, "chr20.vcf.gz")),
        vcf_inspect(simulate(tmp_path, "chr21.vcf.gz", chromosome="21", samples=31)),
    ]

    # when the set is checked / then both counts are named
    assert vcf_set_check(reports) == (
        Problem(
            "error",
            "sample_count_differs",
            "All files must contain the same samples, but chr20.vcf.gz has 30 samples and chr21.vcf.gz has 31. Export"
            " every chromosome from the same set of samples.",
        ),
    )


def test_files_with_the_same_count_but_other_sample_ids_are_rejected(tmp_path: Path) -> None:
    # given two files of 30 samples whose IDs differ
    other = simulate(tmp_path, "chr21.vcf.gz", chromosome="21")
    rewrite(
        other, lambda lines: [line.replace("S000", "P000") if line.startswith("#CHROM") else line for line in lines]
    )
    reports = [vcf_inspect(simulate(tmp_path, "chr20.vcf.gz")), vcf_inspect(other)]

    # when the set is checked / then the IDs are said to differ
    assert [(p.code, p.message) for p in vcf_set_check(reports)] == [
        (
            "samples_differ",
            "All files must contain the same samples in the same order, but the sample IDs of chr21.vcf.gz differ from"
            " those of chr20.vcf.gz. Export every chromosome from the same samples (`bcftools view -S samples.txt` puts"
            " them in one order).",
        )
    ]


def test_a_population_the_panel_does_not_offer_is_rejected() -> None:
    # given a job asking for population "EAS" on a panel with AFR, EUR and mixed
    rules = replace(MIS2_RULES, population="EAS", panel_populations=frozenset({"AFR", "EUR", "mixed"}))

    # when the set is checked / then the panel's populations are listed
    assert vcf_set_check([], rules=rules) == (
        Problem(
            "error",
            "population_unsupported",
            "Population 'EAS' is not offered by the chosen reference panel: choose one of AFR, EUR, mixed.",
        ),
    )


def test_a_population_the_panel_offers_passes() -> None:
    # given "mixed" on a panel that offers it / when checked / then nothing is wrong
    rules = replace(TIS_RULES, population="mixed", panel_populations=frozenset({"mixed"}))
    assert vcf_set_check([], rules=rules) == ()
