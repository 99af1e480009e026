"""Rule 1 of protocols.md §6 (what `tabix -p vcf` needs: bgzip, sorted, complete) and the *.vcf.gz name."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pysam
import pytest

from apps.genomics.compression import BGZF_EOF
from apps.genomics.simulate import bgzf_block_offsets
from apps.genomics.tests.support import records, rewrite, simulate
from apps.genomics.vcf import ChromosomeSummary, DensitySummary, vcf_inspect


def test_a_good_file_passes_with_no_problems(tmp_path: Path) -> None:
    # given a simulated, bgzipped, indexed file of 30 people and 300 SNVs on chromosome 20 (hg19)
    path = simulate(tmp_path, index=True)
    rows = records(path)
    positions = [int(fields[1]) for _, fields in rows]

    # when it is inspected as hg19
    report = vcf_inspect(path, expected_build="hg19")

    # then nothing is wrong and the summary describes the file
    assert report.problems == ()
    assert report.ok
    assert (report.content, report.compression, report.complete, report.bgzf_eof) == ("vcf", "bgzf", True, True)
    assert (report.sorted, report.tabix_indexable, report.index, report.vcf_version) == (True, True, "tbi", "4.2")
    assert (report.samples, report.duplicate_samples, report.variants, report.snvs) == (30, (), 300, 300)
    assert report.chromosomes == (ChromosomeSummary("20", 300, positions[0], positions[-1]),)
    assert (report.chr_prefix, report.detected_build) == ("none", "hg19")
    assert report.build_evidence == "##contig 20 has length 63,025,520, as in hg19"
    assert (report.phasing, report.phased_records, report.unphased_records) == ("phased", 300, 0)
    assert (report.multiallelic, report.other_variants, report.ref_equals_alt) == (0, 0, 0)
    assert (report.duplicate_positions, report.filtered, report.format_fields) == (0, 0, ("GT",))
    assert report.density == DensitySummary(10_000_000, 1, 300, 300.0, 0)
    ambiguous = sum(1 for _, fields in rows if {fields[3], fields[4]} in ({"A", "T"}, {"C", "G"}))
    assert report.strand_ambiguous == ambiguous
    assert report.strand_ambiguous_fraction == round(ambiguous / 300, 4)


def test_plain_gzip_is_rejected_because_tabix_needs_bgzip(tmp_path: Path) -> None:
    # given a file compressed with gzip instead of bgzip
    path = simulate(tmp_path, defects={"plain_gzip"})

    # when it is inspected
    report = vcf_inspect(path)

    # then the one problem says so and how to recompress it, and the content is still read
    assert [(p.severity, p.code, p.message) for p in report.problems] == [
        (
            "error",
            "not_bgzf",
            "The provided VCF file is malformed: it is compressed with plain gzip, not bgzip (BGZF), so tabix cannot"
            " index it. Recompress it: `zcat cohort.vcf.gz | bgzip -c > compressed.vcf.gz`, and upload"
            " compressed.vcf.gz.",
        )
    ]
    assert (report.compression, report.tabix_indexable, report.variants) == ("gzip", False, 300)


def test_a_file_named_vcf_gz_that_holds_plain_text_is_rejected(tmp_path: Path) -> None:
    # given an uncompressed VCF named .vcf.gz
    path = simulate(tmp_path, defects={"uncompressed"})

    # when it is inspected
    report = vcf_inspect(path)

    # then it is reported as not compressed
    assert [(p.code, p.message) for p in report.problems] == [
        (
            "not_compressed",
            "The provided VCF file is malformed: it is not compressed although it is named .gz; the servers need it"
            " compressed with bgzip. Run `bgzip -c cohort.vcf.gz > compressed.vcf.gz` and upload compressed.vcf.gz.",
        )
    ]
    assert (report.compression, report.content, report.variants) == ("uncompressed", "vcf", 300)


def test_an_uncompressed_vcf_is_rejected_with_the_bgzip_command(tmp_path: Path) -> None:
    # given an uncompressed file named .vcf
    path = simulate(tmp_path, "cohort.vcf", defects={"uncompressed"})

    # when it is inspected
    report = vcf_inspect(path)

    # then the message tells to bgzip it (no complaint about the name: bgzip makes it .vcf.gz)
    assert [p.message for p in report.problems] == [
        "The provided VCF file is malformed: it is not compressed; the servers need it compressed with bgzip. Run"
        " `bgzip -c cohort.vcf > compressed.vcf.gz` and upload compressed.vcf.gz."
    ]


def test_an_unsorted_file_is_rejected_with_the_first_position_that_goes_back(tmp_path: Path) -> None:
    # given a file with two records swapped
    path = simulate(tmp_path, defects={"unsorted"})
    rows = records(path)
    backwards = [
        (number, int(fields[1]), int(rows[i - 1][1][1]))
        for i, (number, fields) in enumerate(rows)
        if i and int(fields[1]) < int(rows[i - 1][1][1])
    ]
    line, position, previous = backwards[0]

    # when it is inspected
    report = vcf_inspect(path)

    # then it names the first record out of order and the sort command
    assert len(backwards) == 2
    assert [(p.code, p.message) for p in report.problems] == [
        (
            "unsorted",
            f"The provided VCF file is malformed: it is not sorted (line {line:,}: 20:{position:,} comes after"
            f" 20:{previous:,}; 2 such lines), so tabix cannot index it. Sort it: `bcftools sort -Oz -o sorted.vcf.gz"
            " cohort.vcf.gz`, and upload sorted.vcf.gz.",
        )
    ]
    assert (report.sorted, report.tabix_indexable) == (False, False)


def test_a_chromosome_that_starts_again_later_is_unsorted(tmp_path: Path) -> None:
    # given records of 20, then 21, then 20 again (the MIS rules allow one file with several chromosomes here)
    path = simulate(tmp_path, defects={"mixed_chromosomes"})
    rewrite(path, lambda lines: [*lines, next(line for line in lines if line.startswith("20\t"))])
    line = records(path)[-1][0]

    # when it is inspected
    report = vcf_inspect(path)

    # then the return to chromosome 20 is reported as unsorted
    unsorted = [p.message for p in report.problems if p.code == "unsorted"]
    assert unsorted == [
        f"The provided VCF file is malformed: it is not sorted (line {line:,}: chromosome 20 starts again after"
        " chromosome 21; 1 such line), so tabix cannot index it. Sort it: `bcftools sort -Oz -o sorted.vcf.gz"
        " cohort.vcf.gz`, and upload sorted.vcf.gz."
    ]


def test_a_truncated_file_is_rejected_and_what_came_before_still_counts(tmp_path: Path) -> None:
    # given a file whose download stopped half-way into its last compressed block
    path = simulate(tmp_path, sites=2_000, defects={"truncated"})
    data = path.read_bytes()
    last_block = bgzf_block_offsets(data)[-1]

    # when it is inspected
    report = vcf_inspect(path)

    # then it is reported as truncated at that block, and the complete records before it were read
    assert [(p.code, p.message) for p in report.problems] == [
        (
            "truncated",
            f"The provided VCF file is malformed: it is truncated (the file ends inside the compressed block that"
            f" starts at byte {last_block:,} of {len(data):,}). Upload the complete file again; if your own copy is"
            " also cut short, export it again.",
        )
    ]
    assert (report.complete, report.tabix_indexable) == (False, False)
    assert 0 < report.variants < 2_000


def test_a_file_without_the_bgzf_end_marker_is_rejected(tmp_path: Path) -> None:
    # given a file cut exactly at a block boundary, so only the 28-byte end-of-file block is missing
    path = simulate(tmp_path, defects={"missing_eof"})

    # when it is inspected
    report = vcf_inspect(path)

    # then the missing marker is an error although every record was read
    assert [(p.code, p.message) for p in report.problems] == [
        (
            "missing_bgzf_eof",
            "The provided VCF file is malformed: the end-of-file marker that bgzip writes is missing, so the file was"
            " probably cut short during a copy or download. Upload the complete file again; if your copy is complete,"
            " recompress it: `zcat cohort.vcf.gz | bgzip -c > compressed.vcf.gz`.",
        )
    ]
    assert (report.bgzf_eof, report.variants, report.tabix_indexable) == (False, 300, True)


def test_a_block_with_a_wrong_checksum_is_reported_as_corrupt_at_its_offset(tmp_path: Path) -> None:
    # given a file whose second block's CRC32 has been damaged
    path = simulate(tmp_path, sites=2_000)
    data = bytearray(path.read_bytes())
    second, third = bgzf_block_offsets(bytes(data))[1:3]
    data[third - 8] ^= 0xFF  # the first byte of the block's CRC32 trailer
    path.write_bytes(bytes(data))

    # when it is inspected
    report = vcf_inspect(path)

    # then the block is named with zlib's reason
    assert [(p.code, p.message) for p in report.problems] == [
        (
            "corrupt",
            f"The provided VCF file is malformed: its compressed data are corrupt at byte {second:,} (Error -3 while"
            " decompressing data: incorrect data check). Compress the original VCF again with bgzip and upload the"
            " new file.",
        )
    ]
    assert not report.complete


def test_a_bgzf_file_that_goes_on_in_plain_gzip_is_not_indexable(tmp_path: Path) -> None:
    # given a bgzipped file (without its end marker) followed by more records in a plain gzip member
    path = simulate(tmp_path, defects={"missing_eof"})
    bgzf_part = path.read_bytes()
    last = records(path)[-1][1]
    extra = "\t".join([last[0], str(int(last[1]) + 10), *last[2:]]) + "\n"
    path.write_bytes(bgzf_part + gzip.compress(extra.encode()))

    # when it is inspected
    report = vcf_inspect(path)

    # then tabix could not index it, though all 301 records decompress
    assert [p.message for p in report.problems] == [
        f"The provided VCF file is malformed: it is compressed with plain gzip from byte {len(bgzf_part):,} on, not"
        " bgzip (BGZF), so tabix cannot index it. Recompress it: `zcat cohort.vcf.gz | bgzip -c > compressed.vcf.gz`,"
        " and upload compressed.vcf.gz."
    ]
    assert (report.compression, report.variants, report.tabix_indexable) == ("bgzf", 301, False)


@pytest.mark.parametrize(
    "defect", ["", "unsorted", "plain_gzip", "truncated", "missing_eof", "space_delimited", "mixed_chromosomes"]
)
def test_the_tabix_indexable_verdict_agrees_with_tabix_itself(tmp_path: Path, defect: str) -> None:
    # given a file with one defect (or none)
    path = simulate(tmp_path, sites=2_000, defects={defect} - {""})

    # when it is inspected and tabix (htslib, through pysam) tries to index it
    report = vcf_inspect(path)
    try:
        pysam.tabix_index(str(path), preset="vcf", force=True, index=str(tmp_path / "tabix.tbi"))
        indexed = True
    except OSError:
        indexed = False

    # then both say the same
    assert report.tabix_indexable is indexed


def test_only_files_named_vcf_gz_are_accepted(tmp_path: Path) -> None:
    # given a good file named .vcf.bgz
    path = simulate(tmp_path, "cohort.vcf.bgz")

    # when it is inspected
    report = vcf_inspect(path)

    # then the name is the only problem
    assert [(p.code, p.message) for p in report.problems] == [
        ("wrong_extension", "Only files named *.vcf.gz are accepted: rename cohort.vcf.bgz to cohort.vcf.gz.")
    ]


def test_the_name_the_user_gave_counts_rather_than_the_storage_path(tmp_path: Path) -> None:
    # given a good file stored under an opaque key
    path = simulate(tmp_path, "upload-5f3a")

    # when it is inspected with the user's file name
    report = vcf_inspect(path, filename="cohort chr20.vcf.gz")

    # then the name passes and is the one reported
    assert (report.problems, report.filename) == ((), "cohort chr20.vcf.gz")


def test_a_shell_unsafe_file_name_is_quoted_in_commands(tmp_path: Path) -> None:
    # given a plain-gzip file whose name has a space
    path = simulate(tmp_path, "my cohort.vcf.gz", defects={"plain_gzip"})

    # when it is inspected
    report = vcf_inspect(path)

    # then the command in the message quotes it
    assert "`zcat 'my cohort.vcf.gz' | bgzip -c > compressed.vcf.gz`" in report.problems[0].message


def test_the_bgzf_end_marker_is_the_standard_28_bytes() -> None:
    # given the marker bgzip writes last / when it is decompressed / then it is an empty, valid gzip member
    assert len(BGZF_EOF) == 28
    assert zlib.decompress(BGZF_EOF, 31) == b""
