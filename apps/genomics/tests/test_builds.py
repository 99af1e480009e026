"""Telling hg19 from hg38 (rule 5 and the pre-flight's own build check), from header lengths, positions or names."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.genomics.builds import BuildGuess, build_detect, chromosome_length, chromosome_normalise
from apps.genomics.tests.support import records, simulate
from apps.genomics.vcf import vcf_inspect


def test_contig_lengths_of_hg19_say_hg19() -> None:
    # given chromosome 20 with its GRCh37 length / when detected / then hg19
    assert build_detect({"20": 63_025_520}, {"20": 1_000_000}, None) == BuildGuess(
        "hg19", "##contig 20 has length 63,025,520, as in hg19"
    )


def test_contig_lengths_of_hg38_say_hg38() -> None:
    # given chr20 with its GRCh38 length / when detected / then hg38
    assert build_detect({"chr20": 64_444_167}, {}, None) == BuildGuess(
        "hg38", "##contig chr20 has length 64,444,167, as in hg38"
    )


def test_a_position_past_the_hg19_end_of_chromosome_20_says_hg38() -> None:
    # given a position between the hg19 and hg38 ends of chromosome 20 / when detected / then hg38
    assert build_detect({}, {"20": 64_000_000}, None) == BuildGuess(
        "hg38", "position 64,000,000 on 20 is beyond the end of chromosome 20 in hg19 (63,025,520 bp)"
    )


def test_a_position_past_the_hg38_end_of_chromosome_1_says_hg19() -> None:
    # given a position between the hg38 and hg19 ends of chromosome 1 / when detected / then hg19
    assert build_detect({}, {"chr1": 249_000_000}, None).build == "hg19"


def test_a_position_past_both_ends_is_unknown() -> None:
    # given a position beyond chromosome 20 in both builds / when detected / then unknown, with both reasons
    assert build_detect({}, {"20": 70_000_000}, None) == BuildGuess(
        "unknown",
        "position 70,000,000 on 20 is beyond the end of chromosome 20 in hg19 (63,025,520 bp); position 70,000,000"
        " on 20 is beyond the end of chromosome 20 in hg38 (64,444,167 bp)",
    )


def test_header_and_positions_that_disagree_give_unknown() -> None:
    # given hg19 lengths in the header but a position only hg38 has / when detected / then unknown
    assert build_detect({"20": 63_025_520}, {"20": 64_000_000}, None) == BuildGuess(
        "unknown",
        "##contig 20 has length 63,025,520, as in hg19, but position 64,000,000 on 20 is beyond the end of chromosome"
        " 20 in hg19 (63,025,520 bp)",
    )


def test_contig_lengths_of_both_builds_give_unknown() -> None:
    # given one hg19 and one hg38 length / when detected / then unknown
    assert build_detect({"20": 63_025_520, "21": 46_709_983}, {}, None).build == "unknown"


def test_the_reference_line_decides_when_nothing_else_does() -> None:
    # given only "##reference=...GRCh38..." / when detected / then hg38
    guess = build_detect({}, {"20": 1_000_000}, "file:///refs/GRCh38_full_analysis_set.fa")
    assert guess == BuildGuess("hg38", "the ##reference line names file:///refs/GRCh38_full_analysis_set.fa")


def test_without_any_evidence_the_build_is_unknown() -> None:
    # given lengths-free contigs and positions both builds have / when detected / then unknown
    assert build_detect({}, {"20": 1_000_000}, None) == BuildGuess(
        "unknown", "no ##contig lengths, ##reference line or positions that tell hg19 from hg38"
    )


def test_names_are_compared_without_chr_and_23_is_x() -> None:
    # given the servers' naming / when normalised / then "chr" goes and 23 is X's length
    assert chromosome_normalise("chr20") == "20"
    assert chromosome_length("hg38", "chr23") == chromosome_length("hg38", "X") == 156_040_895
    assert chromosome_length("hg19", "chrUn_gl000220") is None


def test_a_file_declared_hg19_with_hg38_contigs_is_a_build_mismatch(tmp_path: Path) -> None:
    # given hg38 data (GRCh38 header) named without chr, declared hg19
    path = simulate(tmp_path, defects={"wrong_build_contigs"})

    # when it is inspected
    report = vcf_inspect(path, expected_build="hg19")

    # then the mislabel is caught before the servers lift it over to garbage
    assert [(p.code, p.message) for p in report.problems] == [
        (
            "build_mismatch",
            "The file is declared as hg19 but its data are hg38: ##contig 20 has length 64,444,167, as in hg38. Choose"
            " build hg38, or lift the file over to hg19 (e.g. with CrossMap or Picard LiftoverVcf) before uploading.",
        )
    ]
    assert (report.expected_build, report.detected_build) == ("hg19", "hg38")


def test_positions_only_hg38_has_show_a_file_declared_hg19_is_hg38(tmp_path: Path) -> None:
    # given positions past the hg19 end of chromosome 20 and no lengths in the header
    path = simulate(tmp_path, defects={"wrong_build_positions"})
    last = records(path)[-1][1][1]

    # when it is declared hg19 / then the positions give it away
    assert [p.message for p in vcf_inspect(path, expected_build="hg19").problems] == [
        f"The file is declared as hg19 but its data are hg38: position {int(last):,} on 20 is beyond the end of"
        " chromosome 20 in hg19 (63,025,520 bp). Choose build hg38, or lift the file over to hg19 (e.g. with CrossMap"
        " or Picard LiftoverVcf) before uploading."
    ]


def test_positions_past_the_declared_hg38_end_are_rejected(tmp_path: Path) -> None:
    # given positions past the hg38 end of chr20 (and so past hg19's too)
    path = simulate(tmp_path, build="hg38", defects={"wrong_build_positions"})
    last = int(records(path)[-1][1][1])

    # when it is declared hg38
    report = vcf_inspect(path, expected_build="hg38")

    # then the position is named against hg38
    assert [(p.code, p.message) for p in report.problems] == [
        (
            "position_beyond_chromosome_end",
            f"Position {last:,} on chr20 is beyond the end of chromosome 20 in hg38 (64,444,167 bp), so the data are"
            " not on hg38. Check which build the data are on, then declare that build or export the file against the"
            " right one.",
        )
    ]
    assert report.detected_build == "unknown"


def test_without_a_declared_build_the_detection_is_reported_only(tmp_path: Path) -> None:
    # given hg38 contigs / when inspected without a declared build / then hg38 is reported and nothing is wrong
    report = vcf_inspect(simulate(tmp_path, defects={"wrong_build_contigs"}))
    assert (report.problems, report.expected_build, report.detected_build) == ((), None, "hg38")


def test_a_file_without_contig_lengths_has_an_unknown_build(tmp_path: Path) -> None:
    # given no ##contig or ##reference lines / when inspected as hg19 / then it passes with the build unknown
    report = vcf_inspect(simulate(tmp_path, defects={"no_contig_header"}), expected_build="hg19")
    assert (report.problems, report.detected_build) == ((), "unknown")


def test_only_hg19_and_hg38_can_be_declared(tmp_path: Path) -> None:
    # given a good file / when declared as GRCh37 / then it is refused as a programming error
    with pytest.raises(ValueError, match="expected_build must be one of hg19, hg38, not 'GRCh37'"):
        vcf_inspect(simulate(tmp_path), expected_build="GRCh37")
