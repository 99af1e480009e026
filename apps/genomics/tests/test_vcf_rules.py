"""Rules 2-13 of protocols.md §6, one generated file each, and what the servers' QC would exclude (warnings)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from apps.genomics.tests.support import records, rewrite, simulate, with_field
from apps.genomics.vcf import MIS2_RULES, TIS_RULES, Problem, ValidationRules, vcf_inspect


def problems(
    path: Path, *, rules: ValidationRules | None = None, expected_build: str | None = None
) -> list[tuple[str, str, str]]:
    report = vcf_inspect(path, rules=rules, expected_build=expected_build)
    return [(p.severity, p.code, p.message) for p in report.problems]


# -- rule 2: tab-delimited, one column per sample ------------------------------------------------------------------


def test_records_separated_by_spaces_are_not_tab_delimited(tmp_path: Path) -> None:
    # given records whose columns are separated by spaces
    path = simulate(tmp_path, defects={"space_delimited"})
    line, fields = records(path)[0]
    shown = fields[0][:60]

    # when it is inspected / then the first such line is quoted
    assert problems(path) == [
        (
            "error",
            "not_tab_delimited",
            f"The provided VCF file is not tab-delimited: line {line} ('{shown}') has 1 tab-separated column (300 such"
            " lines). Separate the columns with tabs, not spaces.",
        )
    ]


def test_a_record_without_its_last_sample_column_is_rejected(tmp_path: Path) -> None:
    # given one record that lost its last genotype column
    path = simulate(tmp_path, defects={"sample_column_mismatch"})
    line = next(number for number, fields in records(path) if len(fields) == 9 + 29)

    # when it is inspected / then that line and the counts are named
    assert problems(path) == [
        (
            "error",
            "sample_columns",
            f"Line {line} has 29 genotype columns but the #CHROM line names 30 samples (1 such line). Every record"
            " needs one column per sample: export the file again (e.g. `bcftools view -Oz`).",
        )
    ]


def test_records_cut_after_the_fifth_column_have_too_few_columns(tmp_path: Path) -> None:
    # given records that end after ALT
    path = simulate(tmp_path)
    rewrite(path, lambda lines: [line if line.startswith("#") else "\t".join(line.split("\t")[:5]) for line in lines])
    first = records(path)[0][0]

    # when it is inspected / then the column count is named
    assert problems(path) == [
        (
            "error",
            "too_few_columns",
            f"Line {first} has 5 columns but a VCF record needs at least 8 (CHROM POS ID REF ALT QUAL FILTER INFO),"
            " then FORMAT and one column per sample (300 such lines). Export the file again (e.g. `bcftools view"
            " -Oz`).",
        )
    ]


def test_a_position_that_is_not_a_number_is_rejected(tmp_path: Path) -> None:
    # given one record (line 21) whose position reads "1e6"
    path = simulate(tmp_path)
    rewrite(path, lambda lines: [with_field(line, 1, "1e6") if i == 20 else line for i, line in enumerate(lines)])

    # when it is inspected / then the value is quoted
    assert problems(path) == [
        (
            "error",
            "invalid_position",
            "Line 21 has the position '1e6', which is not a positive whole number (1 such line). Correct or remove"
            " these records.",
        )
    ]


# -- rule 3: one chromosome per file -------------------------------------------------------------------------------


def test_a_file_with_two_chromosomes_must_be_split(tmp_path: Path) -> None:
    # given records on chromosomes 20 and 21
    path = simulate(tmp_path, defects={"mixed_chromosomes"})

    # when it is inspected / then the split command is given
    assert problems(path) == [
        (
            "error",
            "multiple_chromosomes",
            "The provided VCF file contains more than one chromosome (20, 21). Please split your input VCF file by"
            " chromosome, one file each: `bcftools index cohort.vcf.gz` once, then `bcftools view -r 20 -Oz -o"
            " 20.vcf.gz cohort.vcf.gz` for each chromosome (20 shown).",
        )
    ]


# -- rule 4: allowed chromosomes -----------------------------------------------------------------------------------


def test_chromosome_y_is_not_accepted(tmp_path: Path) -> None:
    # given a file of chromosome Y
    path = simulate(tmp_path, chromosome="Y")

    # when it is inspected for Michigan / then Y is invalid
    assert problems(path) == [
        (
            "error",
            "invalid_chromosome",
            "Invalid chromosome found: Y. Michigan Imputation Server 2 accepts chromosomes 1-22, 23, X and MT only."
            " Remove the other records: `bcftools view -t ^Y -Oz -o filtered.vcf.gz cohort.vcf.gz`.",
        )
    ]


def test_mitochondria_are_accepted_by_michigan_but_not_by_topmed(tmp_path: Path) -> None:
    # given a file of MT
    path = simulate(tmp_path, chromosome="MT", length=16_000, sites=50)

    # when it is inspected for both services
    michigan, topmed = problems(path, rules=MIS2_RULES), problems(path, rules=TIS_RULES)

    # then only TOPMed refuses it
    assert michigan == []
    assert topmed == [
        (
            "error",
            "invalid_chromosome",
            "Invalid chromosome found: MT. TOPMed Imputation Server accepts chromosomes 1-22, 23 and X only. Remove"
            " the other records: `bcftools view -t ^MT -Oz -o filtered.vcf.gz cohort.vcf.gz`.",
        )
    ]


def test_chromosome_x_is_accepted_by_topmed(tmp_path: Path) -> None:
    # given a file of chromosome X on hg38 / when it is inspected for TOPMed / then nothing is wrong
    path = simulate(tmp_path, chromosome="X", build="hg38")
    assert problems(path, rules=TIS_RULES, expected_build="hg38") == []


# -- rule 5: chromosome names follow the build ---------------------------------------------------------------------


def test_chr_prefixed_names_are_not_a_valid_hg19_encoding(tmp_path: Path) -> None:
    # given hg19 data named chr20
    path = simulate(tmp_path, chr_prefix=True)

    # when it is declared hg19 / then the rename is explained
    assert problems(path, expected_build="hg19") == [
        (
            "error",
            "build_naming",
            "Your file contains chromosome 'chr20': this is not a valid hg19 encoding. For build hg19 name chromosomes"
            " without 'chr' ('20'): `bcftools annotate --rename-chrs map.txt -Oz -o renamed.vcf.gz cohort.vcf.gz`"
            " with lines like 'chr20 20' in map.txt. If the data are hg38, choose build hg38 instead.",
        )
    ]


def test_hg38_names_must_be_encoded_with_chr(tmp_path: Path) -> None:
    # given hg38 data named 20
    path = simulate(tmp_path, build="hg38", chr_prefix=False)

    # when it is declared hg38 / then the 'chr20' encoding is asked for
    assert problems(path, expected_build="hg38") == [
        (
            "error",
            "build_naming",
            "Your file contains chromosome '20': this is not a valid hg38 encoding. For build hg38 chromosomes must be"
            " encoded as 'chr20': `bcftools annotate --rename-chrs map.txt -Oz -o renamed.vcf.gz cohort.vcf.gz` with"
            " lines like '20 chr20' in map.txt. If the data are hg19, choose build hg19 instead.",
        )
    ]


def test_a_good_hg38_file_passes(tmp_path: Path) -> None:
    # given hg38 data named chr20 / when it is declared hg38
    report = vcf_inspect(simulate(tmp_path, build="hg38"), expected_build="hg38")

    # then it passes and the build is confirmed
    assert (report.problems, report.chr_prefix, report.detected_build) == ((), "chr", "hg38")


# -- rule 6: REF differs from ALT ----------------------------------------------------------------------------------


def test_records_whose_alt_equals_ref_are_rejected(tmp_path: Path) -> None:
    # given three records with ALT == REF
    path = simulate(tmp_path, defects={"ref_equals_alt"})
    line, fields = next((number, fields) for number, fields in records(path) if fields[3] == fields[4])

    # when it is inspected
    report = vcf_inspect(path)

    # then the first is named, with the bcftools command that drops them
    assert [(p.code, p.message) for p in report.problems] == [
        (
            "ref_equals_alt",
            f"The reference allele ({fields[3]}) and alternate allele ({fields[4]}) are the same at line {line}"
            f" (20:{int(fields[1]):,}; 3 such lines). Correct the alleles or remove these records: `bcftools view -e"
            " 'REF==ALT' -Oz -o fixed.vcf.gz cohort.vcf.gz`.",
        )
    ]
    assert report.ref_equals_alt == 3


# -- rule 7: unique sample IDs -------------------------------------------------------------------------------------


def test_duplicate_sample_ids_are_rejected(tmp_path: Path) -> None:
    # given two samples both named S00001
    path = simulate(tmp_path, defects={"duplicate_samples"})

    # when it is inspected
    report = vcf_inspect(path)

    # then the repeated ID is listed with the reheader command
    assert [(p.code, p.message) for p in report.problems] == [
        (
            "duplicate_samples",
            "Sample IDs must be unique, but the #CHROM line repeats S00001 (2 times). Give every sample its own ID:"
            " `bcftools reheader -s new_ids.txt -o renamed.vcf.gz cohort.vcf.gz` with one ID per line, in the file's"
            " order.",
        )
    ]
    assert report.duplicate_samples == ("S00001",)


# -- rule 9: sample limits -----------------------------------------------------------------------------------------


def test_fewer_than_20_samples_are_rejected(tmp_path: Path) -> None:
    # given a file of 5 samples
    path = simulate(tmp_path, defects={"few_samples"})

    # when it is inspected / then the servers' minimum is quoted
    assert problems(path) == [
        (
            "error",
            "too_few_samples",
            "At least 20 samples must be uploaded. This file has 5: imputation on Michigan Imputation Server 2 needs"
            " genotypes of at least 20 people in one job, so add samples (e.g. merge cohorts genotyped on the same"
            " array).",
        )
    ]


def test_exactly_20_samples_are_enough(tmp_path: Path) -> None:
    # given 20 samples / when inspected / then nothing is wrong
    assert problems(simulate(tmp_path, samples=20)) == []


def test_topmed_takes_at_most_25000_samples(tmp_path: Path) -> None:
    # given 25,001 and 25,000 samples (3 sites each)
    over = simulate(tmp_path, "over.vcf.gz", samples=25_001, sites=3, length=10_000)
    limit = simulate(tmp_path, "limit.vcf.gz", samples=25_000, sites=3, length=10_000)

    # when they are inspected for TOPMed
    # then only the first is rejected, with how to split the cohort
    assert problems(over, rules=TIS_RULES) == [
        (
            "error",
            "too_many_samples",
            "TOPMed Imputation Server imputes at most 25,000 samples per job; this file has 25,001. Split the samples"
            " into batches of at most 25,000 (`bcftools view -S batch1.txt -Oz -o batch1.vcf.gz ...`), submit one job"
            " per batch, and merge the results.",
        )
    ]
    assert problems(limit, rules=TIS_RULES) == []
    assert problems(over, rules=MIS2_RULES) == []


def test_michigan_takes_at_most_50000_samples(tmp_path: Path) -> None:
    # given 50,001 samples / when inspected for Michigan / then the limit is quoted
    path = simulate(tmp_path, samples=50_001, sites=3, length=10_000)
    assert [message for _, code, message in problems(path) if code == "too_many_samples"] == [
        "Michigan Imputation Server 2 imputes at most 50,000 samples per job; this file has 50,001. Split the samples"
        " into batches of at most 50,000 (`bcftools view -S batch1.txt -Oz -o batch1.vcf.gz ...`), submit one job"
        " per batch, and merge the results."
    ]


def test_a_limit_of_zero_disables_the_sample_checks(tmp_path: Path) -> None:
    # given 5 samples and rules without a minimum / when inspected / then nothing is wrong
    path = simulate(tmp_path, defects={"few_samples"})
    assert problems(path, rules=replace(MIS2_RULES, min_samples=0)) == []


# -- rule 10: phasing ----------------------------------------------------------------------------------------------


def test_unphased_data_without_a_phasing_algorithm_is_rejected(tmp_path: Path) -> None:
    # given unphased genotypes ("0/1")
    path = simulate(tmp_path, phased=False)
    first = next(number for number, fields in records(path) if any("/" in gt for gt in fields[9:]))

    # when the job asks for no phasing
    report = vcf_inspect(path, rules=replace(MIS2_RULES, phasing="no_phasing"))

    # then the server's message comes with where the unphased genotypes are
    assert [(p.code, p.message) for p in report.problems] == [
        (
            "unphased",
            "Your input data is unphased. Please select an algorithm for phasing. (300 of 300 records have unphased"
            f" genotypes written with '/', the first at line {first}.)",
        )
    ]
    assert report.phasing == "unphased"


def test_unphased_data_with_a_phasing_algorithm_passes(tmp_path: Path) -> None:
    # given unphased genotypes / when the job phases with Eagle / then nothing is wrong
    path = simulate(tmp_path, phased=False)
    assert problems(path, rules=replace(MIS2_RULES, phasing="eagle")) == []


def test_partly_phased_data_is_a_warning_when_the_job_phases(tmp_path: Path) -> None:
    # given every other record unphased
    path = simulate(tmp_path, defects={"mixed_phasing"})
    first = next(number for number, fields in records(path) if "/" in fields[9])

    # when the job phases with Eagle
    report = vcf_inspect(path, rules=replace(MIS2_RULES, phasing="eagle"))

    # then it is a warning, not an error
    assert report.problems == (
        Problem(
            "warning",
            "mixed_phasing",
            f"150 of 300 records have unphased genotypes ('/', the first at line {first}) and the others are phased"
            " ('|'): the servers treat the whole file as unphased and phase it again. Choose a phasing algorithm, or"
            " upload consistently phased data.",
        ),
    )
    assert (report.phasing, report.phased_records, report.unphased_records) == ("mixed", 150, 150)


# -- rule 12: TOPMed's array density -------------------------------------------------------------------------------


def test_topmed_rejects_more_than_20000_variants_per_10_mb_chunk(tmp_path: Path) -> None:
    # given 20,001 SNVs inside one 10 Mb chunk, and 20,000 in another file
    dense = simulate(tmp_path, "dense.vcf.gz", samples=20, sites=20_001, length=5_000_000)
    limit = simulate(tmp_path, "limit.vcf.gz", samples=20, sites=20_000, length=5_000_000)

    # when they are inspected for TOPMed
    # then only the first is rejected as not array data; Michigan has no such limit
    assert problems(dense, rules=TIS_RULES) == [
        (
            "error",
            "too_dense",
            "The file has 20,001 variants in 1 chunk of 10 Mb, a mean of 20,001 per chunk; TOPMed Imputation Server"
            " accepts at most 20,000, as input genotypes are expected to come from array genotypes (not sequencing or"
            " already imputed data). Upload the genotyping-array variants only.",
        )
    ]
    assert problems(limit, rules=TIS_RULES) == []
    assert problems(dense, rules=MIS2_RULES) == []


def test_density_is_over_the_10_mb_windows_that_hold_variants(tmp_path: Path) -> None:
    # given 100 SNVs in each of the windows 0-10, 10-20 and 30-40 Mb (none in 20-30 Mb)
    path = simulate(tmp_path)
    shifts = {100: 10_000_000, 200: 30_000_000}

    def spread(lines: list[str]) -> list[str]:
        header = [line for line in lines if line.startswith("#")]
        body = lines[len(header) :]
        return header + [
            with_field(line, 1, str(int(line.split("\t")[1]) + shifts.get(i // 100 * 100, 0)))
            for i, line in enumerate(body)
        ]

    rewrite(path, spread)

    # when it is inspected
    density = vcf_inspect(path).density

    # then three windows hold 100 each and one window inside the span is empty
    assert (density.window_bp, density.windows, density.min, density.mean, density.empty_windows) == (
        10_000_000,
        3,
        100,
        100.0,
        1,
    )


# -- rule 13: VCF version and GT -----------------------------------------------------------------------------------


def test_topmed_reads_vcf_up_to_version_4_2(tmp_path: Path) -> None:
    # given a VCFv4.3 file
    path = simulate(tmp_path, defects={"vcf_4_3"})

    # when it is inspected for TOPMed and for Michigan
    # then only TOPMed refuses it, with how to rewrite the version line
    assert problems(path, rules=TIS_RULES) == [
        (
            "error",
            "vcf_version",
            "The file is VCF version 4.3, but TOPMed Imputation Server reads VCF up to version 4.2 only (newer"
            " versions break its chrX handling). Write the file as VCFv4.2: change its first line to"
            " '##fileformat=VCFv4.2' (`bcftools view -h` to get the header, `bcftools reheader -h` to replace it).",
        )
    ]
    assert problems(path, rules=MIS2_RULES) == []


def test_records_without_gt_are_rejected(tmp_path: Path) -> None:
    # given dosages only (FORMAT DS)
    path = simulate(tmp_path, defects={"no_gt"})
    first = records(path)[0][0]

    # when it is inspected
    report = vcf_inspect(path)

    # then GT is asked for
    assert [(p.code, p.message) for p in report.problems] == [
        (
            "missing_gt",
            f"Line {first} has the FORMAT 'DS' without GT (300 such lines): the servers impute from hard-called"
            " genotypes in a GT field, which must come first. Export the genotypes with GT.",
        )
    ]
    assert (report.phasing, report.format_fields) == ("none", ("DS",))


def test_format_fields_besides_gt_are_a_warning(tmp_path: Path) -> None:
    # given GT:DS
    path = simulate(tmp_path, defects={"extra_format_fields"})

    # when it is inspected
    report = vcf_inspect(path)

    # then dropping DS is suggested, and phasing is still read from GT
    assert [(p.severity, p.code, p.message) for p in report.problems] == [
        (
            "warning",
            "extra_format_fields",
            "FORMAT fields other than GT (DS) are ignored by the servers and only make the upload larger and slower:"
            " drop them with `bcftools annotate -x ^FORMAT/GT -Oz -o gt-only.vcf.gz cohort.vcf.gz`.",
        )
    ]
    assert (report.phasing, report.format_fields) == ("phased", ("DS", "GT"))


# -- what the QC step excludes -------------------------------------------------------------------------------------


def test_multiallelic_records_are_a_warning(tmp_path: Path) -> None:
    # given two records with a second ALT allele
    path = simulate(tmp_path, defects={"multiallelic"})
    line, fields = next((number, fields) for number, fields in records(path) if "," in fields[4])

    # when it is inspected
    report = vcf_inspect(path)

    # then splitting them is suggested
    assert [(p.severity, p.message) for p in report.problems] == [
        (
            "warning",
            f"2 records are multi-allelic (the first at line {line}, 20:{int(fields[1]):,}); the servers' QC excludes"
            " them. Split them into biallelic records: `bcftools norm -m -any -Oz -o split.vcf.gz cohort.vcf.gz`.",
        )
    ]
    assert (report.multiallelic, report.snvs) == (2, 298)


def test_repeated_positions_are_a_warning(tmp_path: Path) -> None:
    # given two records that repeat the position before them
    path = simulate(tmp_path, defects={"duplicate_positions"})
    rows = records(path)
    line, fields = next((rows[i][0], rows[i][1]) for i in range(1, len(rows)) if rows[i][1][1] == rows[i - 1][1][1])

    # when it is inspected / then deduplication is suggested
    assert problems(path) == [
        (
            "warning",
            "duplicate_positions",
            f"2 records repeat the position of the record before (the first at line {line}, 20:{int(fields[1]):,});"
            " the servers' QC excludes duplicates. Remove them: `bcftools norm -d exact -Oz -o dedup.vcf.gz"
            " cohort.vcf.gz`.",
        )
    ]


def test_filtered_records_are_a_warning(tmp_path: Path) -> None:
    # given two records with FILTER LowQual
    path = simulate(tmp_path, defects={"filtered"})
    line, fields = next((number, fields) for number, fields in records(path) if fields[6] == "LowQual")

    # when it is inspected / then keeping passing records is suggested
    assert problems(path) == [
        (
            "warning",
            "filtered",
            f"2 records have a FILTER other than PASS or '.' (the first at line {line}, 20:{int(fields[1]):,}:"
            " 'LowQual'); the servers' QC excludes them. Keep passing records: `bcftools view -f PASS,. -Oz -o"
            " pass.vcf.gz cohort.vcf.gz`.",
        )
    ]


def test_indels_are_a_warning(tmp_path: Path) -> None:
    # given one record (line 31) turned into a deletion
    path = simulate(tmp_path)
    rewrite(
        path,
        lambda lines: [
            with_field(line, 3, line.split("\t")[3] + "A") if i == 30 else line for i, line in enumerate(lines)
        ],
    )
    fields = dict(records(path))[31]

    # when it is inspected / then keeping SNVs is suggested
    assert problems(path) == [
        (
            "warning",
            "not_snv",
            f"1 record is not an A/C/G/T SNV (the first at line 31, 20:{int(fields[1]):,} {fields[3]}>{fields[4]}):"
            " the servers' QC excludes indels and other non-SNVs. Keep SNVs only: `bcftools view -v snps -Oz -o"
            " snps.vcf.gz cohort.vcf.gz`.",
        )
    ]


def test_a_20_mb_chunk_with_fewer_than_3_variants_is_a_warning(tmp_path: Path) -> None:
    # given two more records, alone in the 40-60 Mb chunk
    path = simulate(tmp_path)
    rewrite(path, lambda lines: [*lines, *(with_field(lines[-1], 1, str(p)) for p in (45_000_000, 45_000_100))])

    # when it is inspected / then that chunk is named
    assert problems(path) == [
        (
            "warning",
            "sparse_chunk",
            "The servers' QC drops every 20 Mb chunk with fewer than 3 variants, so these will not be imputed:"
            " 20:40,000,001-60,000,000 (2 variants). Add the array's other variants in those regions, or expect no"
            " results there.",
        )
    ]
