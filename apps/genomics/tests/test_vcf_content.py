"""Files whose content is not what their name says (or not a VCF at all) are reported cleanly, never crashed on."""

from __future__ import annotations

import bz2
from pathlib import Path

import pysam
import pytest

from apps.genomics import vcf as vcf_module
from apps.genomics.tests.support import rewrite, simulate, text_lines
from apps.genomics.vcf import vcf_inspect


def test_a_zip_archive_named_vcf_gz_is_rejected(tmp_path: Path) -> None:
    # given a ZIP archive holding the VCF, named .vcf.gz
    path = simulate(tmp_path, defects={"zip"})

    # when it is inspected
    report = vcf_inspect(path)

    # then it is not a VCF, and the message says how to repack it
    assert [(p.severity, p.code, p.message) for p in report.problems] == [
        (
            "error",
            "not_vcf",
            "The file cohort.vcf.gz is a ZIP archive, not a bgzip-compressed VCF: unzip it (`unzip cohort.vcf.gz`) and"
            " compress the VCF inside with bgzip (`bgzip -c file.vcf > file.vcf.gz`).",
        )
    ]
    assert (report.content, report.compression, report.variants, report.tabix_indexable) == ("zip", "other", 0, False)


def test_a_bgzipped_csv_is_not_a_vcf(tmp_path: Path) -> None:
    # given a spreadsheet export of genotypes, bgzipped and named .vcf.gz
    path = simulate(tmp_path, defects={"not_vcf"})

    # when it is inspected
    report = vcf_inspect(path)

    # then the message quotes how the file starts
    assert [(p.code, p.message) for p in report.problems] == [
        (
            "not_vcf",
            "The file cohort.vcf.gz is not a VCF: a VCF starts with the line '##fileformat=VCFv4.2' (or another"
            " version), but this bgzip-compressed file starts with 'chromosome,position,S00001,S00002,S00003'. Upload"
            " the genotypes as a VCF compressed with bgzip.",
        )
    ]
    assert report.content == "unknown"


def test_plain_text_named_vcf_gz_is_not_a_vcf(tmp_path: Path) -> None:
    # given a text file with a line break and a tab, named .vcf.gz
    path = tmp_path / "cohort.vcf.gz"
    path.write_bytes(b"rs123\tAA\nrs456\tAG\n")

    # when it is inspected
    report = vcf_inspect(path)

    # then the preview shows the control characters escaped
    assert [p.message for p in report.problems] == [
        "The file cohort.vcf.gz is not a VCF: a VCF starts with the line '##fileformat=VCFv4.2' (or another version),"
        " but this file starts with 'rs123\\tAA\\nrs456\\tAG\\n'. Upload the genotypes as a VCF compressed with bgzip."
    ]


def test_an_empty_file_is_rejected(tmp_path: Path) -> None:
    # given an empty upload
    path = tmp_path / "cohort.vcf.gz"
    path.write_bytes(b"")

    # when it is inspected / then it says so
    assert [(p.code, p.message) for p in vcf_inspect(path).problems] == [
        ("not_vcf", "The file cohort.vcf.gz is empty (0 bytes). Upload the VCF again.")
    ]


def test_a_bgzipped_file_with_nothing_inside_is_not_a_vcf(tmp_path: Path) -> None:
    # given a bgzip file that decompresses to nothing
    path = tmp_path / "cohort.vcf.gz"
    with pysam.BGZFile(str(path), "wb", None):
        pass

    # when it is inspected / then it holds no data
    assert [p.message for p in vcf_inspect(path).problems] == [
        "The file cohort.vcf.gz is not a VCF: a VCF starts with the line '##fileformat=VCFv4.2' (or another version),"
        " but this bgzip-compressed file holds no data. Upload the genotypes as a VCF compressed with bgzip."
    ]


def test_a_bzip2_file_is_rejected_with_the_recompress_command(tmp_path: Path) -> None:
    # given a VCF compressed with bzip2, named .vcf.gz
    good = simulate(tmp_path, "good.vcf.gz")
    path = tmp_path / "cohort.vcf.gz"
    path.write_bytes(bz2.compress("\n".join(text_lines(good)).encode()))

    # when it is inspected / then the bzip2 content is named
    assert [p.message for p in vcf_inspect(path).problems] == [
        "The file cohort.vcf.gz is bzip2-compressed, not a bgzip-compressed VCF: recompress it with bgzip: `bzcat"
        " cohort.vcf.gz | bgzip -c > file.vcf.gz`."
    ]


def test_a_bcf_file_is_rejected_with_the_conversion_command(tmp_path: Path) -> None:
    # given the same genotypes written as BCF, named .vcf.gz
    good = simulate(tmp_path, "good.vcf.gz")
    path = tmp_path / "cohort.vcf.gz"
    with pysam.VariantFile(str(good)) as source, pysam.VariantFile(str(path), "wb", header=source.header) as out:
        for record in source:
            out.write(record)

    # when it is inspected
    report = vcf_inspect(path)

    # then it is recognised as BCF inside BGZF
    assert [p.message for p in report.problems] == [
        "The file cohort.vcf.gz is BCF (binary VCF), not a bgzip-compressed VCF: convert it: `bcftools view -Oz -o"
        " file.vcf.gz cohort.vcf.gz`."
    ]
    assert (report.content, report.compression) == ("bcf", "bgzf")


def test_a_header_without_its_chrom_line_is_rejected_at_the_first_record(tmp_path: Path) -> None:
    # given a file whose #CHROM line was lost
    path = simulate(tmp_path)
    rewrite(path, lambda lines: [line for line in lines if not line.startswith("#CHROM")])

    # when it is inspected / then the first record's line is named
    assert [(p.code, p.message) for p in vcf_inspect(path).problems] == [
        (
            "missing_header",
            "Line 6 is a record, but the header has not ended with the tab-separated line '#CHROM POS ID REF ALT QUAL"
            " FILTER INFO FORMAT' and the sample IDs. Export the file again (e.g. `bcftools view -Oz`).",
        )
    ]


def test_a_header_that_never_ends_is_rejected(tmp_path: Path) -> None:
    # given only the ## lines of a header
    path = simulate(tmp_path)
    rewrite(path, lambda lines: [line for line in lines if line.startswith("##")])

    # when it is inspected / then the missing #CHROM line is named
    assert [p.code for p in vcf_inspect(path).problems] == ["missing_header"]


def test_a_header_with_spaces_instead_of_tabs_is_rejected(tmp_path: Path) -> None:
    # given a #CHROM line separated by spaces
    path = simulate(tmp_path, samples=20)
    rewrite(path, lambda lines: [line.replace("\t", " ") if line.startswith("#CHROM") else line for line in lines])

    # when it is inspected / then the header line is quoted
    assert [p.message for p in vcf_inspect(path).problems] == [
        "The provided VCF file is not tab-delimited: the header line (line 6) must list #CHROM POS ID REF ALT QUAL"
        " FILTER INFO FORMAT and the sample IDs separated by tabs, but it reads '#CHROM POS ID REF ALT QUAL FILTER"
        " INFO FORMAT S00001 S00002 S00003 S00004 S00005'. Separate the columns with tabs."
    ]


def test_a_header_without_records_is_rejected(tmp_path: Path) -> None:
    # given a header and no records
    path = simulate(tmp_path)
    rewrite(path, lambda lines: [line for line in lines if line.startswith("#")])

    # when it is inspected / then there is nothing to impute
    report = vcf_inspect(path)
    assert [(p.code, p.message) for p in report.problems] == [
        (
            "no_variants",
            "The file has a header but no variant records. Export the genotypes again and upload the file with its"
            " records.",
        )
    ]
    assert (report.variants, report.chromosomes, report.chr_prefix, report.phasing) == (0, (), None, "none")


def test_a_line_longer_than_the_limit_stops_the_inspection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a limit of 1,000 bytes per line and a file with 30 samples (about 120 bytes of genotypes per line)
    monkeypatch.setattr(vcf_module, "MAX_LINE_BYTES", 1_000)
    path = simulate(tmp_path)
    rewrite(path, lambda lines: [*lines[:10], "20\t" + "x" * 2_000_000])

    # when it is inspected
    report = vcf_inspect(path)

    # then the over-long line is the problem and memory was never spent on it
    assert [(p.code, p.message) for p in report.problems] == [
        (
            "line_too_long",
            "Line 11 is longer than 0 MiB without a line break, so the file is not a readable VCF. Check that it is a"
            " VCF text file.",
        )
    ]
    assert not report.complete
