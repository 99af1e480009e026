"""Pre-flight inspection of genotype VCFs: the imputation servers' input rules, applied before the upload.

One streaming pass over the decompressed text gathers everything the rules of reference/protocols.md §6 need, in
memory bounded by the longest line: counters per chromosome and per 10 Mb window, never a list of sites. Each
rule that fails becomes a Problem whose message says what is wrong, where (line and position), and what to run
or change to fix it. Rules about a set of files (the same samples everywhere, one file per chromosome, the
population) are in vcf_set_check().
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shlex
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

from apps.genomics.builds import BUILDS, Build, build_detect, chromosome_length, chromosome_normalise
from apps.genomics.compression import Decompressed, StreamError, bgzf_eof_present, packing_sniff
from apps.genomics.report import ChromosomeSummary, DensitySummary, Problem, Severity, VcfReport
from apps.genomics.rules import DEFAULT_RULES, MIS2_RULES, TIS_RULES, ValidationRules

__all__ = [
    "MIS2_RULES",
    "TIS_RULES",
    "ChromosomeSummary",
    "DensitySummary",
    "Problem",
    "ValidationRules",
    "VcfReport",
    "vcf_inspect",
    "vcf_set_check",
]

MAX_LINE_BYTES: Final = 32 << 20  # 50,000 samples with GT:DS:GP need ~3 MB; anything longer is not a VCF
MAX_CHROMOSOMES: Final = 10_000  # distinct contigs tracked; more only happens with broken files
WINDOW_BP: Final = 10_000_000  # the servers' validation chunk (imputationserver-utils --chunksize)
MAX_WINDOWS: Final = 30  # 300 Mb: beyond any human chromosome, so later positions fail the build checks anyway
QC_CHUNK_WINDOWS: Final = 2  # the QC step works on 20 Mb chunks ...
QC_MIN_VARIANTS: Final = 3  # ... and drops those with fewer variants (minSnps default)
LISTED: Final = 5  # examples named in one message

_VCF_MAGIC: Final = b"##fileformat=VCF"
_FIXED_COLUMNS: Final = ("CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")
_SNV_BASES: Final = frozenset({b"A", b"C", b"G", b"T", b"a", b"c", b"g", b"t"})
_STRAND_AMBIGUOUS: Final = frozenset({b"AT", b"TA", b"CG", b"GC"})
_FILTER_PASSED: Final = frozenset({b"PASS", b"."})
_GT_UNPHASED: Final = re.compile(rb"(?:^|\t)[^\t:/]*/")  # a "/" inside the first (GT) sub-field of a sample
_GT_PHASED: Final = re.compile(rb"(?:^|\t)[^\t:|]*\|")
_VERSION: Final = re.compile(rb"##fileformat=VCFv(\d+)\.(\d+)")
_CONTIG_ID: Final = re.compile(rb"[<,]ID=([^,>]+)")
_CONTIG_LENGTH: Final = re.compile(rb"[<,]length=(\d+)")
_CONTENT_NAMES: Final = {
    "zip": "a ZIP archive",
    "bzip2": "bzip2-compressed",
    "xz": "xz-compressed",
    "zstd": "zstd-compressed",
    "bcf": "BCF (binary VCF)",
}


def vcf_inspect(
    path: str | Path,
    *,
    expected_build: str | None = None,
    rules: ValidationRules | None = None,
    filename: str | None = None,
) -> VcfReport:
    """Inspect one VCF in a single streaming pass and check it against `rules` (Michigan's by default).

    `expected_build` is the build the user declares ("hg19" or "hg38"); `filename` is the name the user gave the
    file (the servers only accept *.vcf.gz), when it differs from the path's. Problems with the content are
    reported, never raised; only an unreadable path raises OSError.
    """
    if expected_build is not None and expected_build not in BUILDS:
        raise ValueError(f"expected_build must be one of {', '.join(BUILDS)}, not {expected_build!r}")
    path = Path(path)
    scan = _Scan(path, filename or path.name, rules or DEFAULT_RULES, cast("Build | None", expected_build))
    scan.run()
    return scan.report()


def vcf_set_check(reports: Sequence[VcfReport], *, rules: ValidationRules | None = None) -> tuple[Problem, ...]:
    """The rules that span the files of one job: one file per chromosome, the same samples, a valid population."""
    rules = rules or DEFAULT_RULES
    problems: list[Problem] = []
    owners: dict[str, list[str]] = {}
    for report in reports:
        for name in {chromosome_normalise(chromosome.name) for chromosome in report.chromosomes}:
            owners.setdefault(name, []).append(report.filename)
    for name, files in owners.items():
        if len(files) > 1:
            severity: Severity = "error" if rules.one_file_per_chromosome else "warning"
            consequence = (
                f"{rules.service} accepts only one file per chromosome"
                if rules.one_file_per_chromosome
                else "the results would hold that chromosome twice"
            )
            problems.append(
                Problem(
                    severity,
                    "duplicate_chromosome",
                    f"Chromosome {name} is in more than one file ({', '.join(files)}): {consequence}. Merge them into"
                    f" one file (`bcftools concat -a -Oz -o merged.vcf.gz {' '.join(map(shlex.quote, files))}`)"
                    " or leave all but one out.",
                )
            )
    with_samples = [report for report in reports if report.content == "vcf" and report.samples_sha256]
    if with_samples:
        first = with_samples[0]
        for other in with_samples[1:]:
            if other.samples != first.samples:
                problems.append(
                    Problem(
                        "error",
                        "sample_count_differs",
                        f"All files must contain the same samples, but {first.filename} has {first.samples:,} samples"
                        f" and {other.filename} has {other.samples:,}. Export every chromosome from the same set of"
                        " samples.",
                    )
                )
            elif other.samples_sha256 != first.samples_sha256:
                problems.append(
                    Problem(
                        "error",
                        "samples_differ",
                        f"All files must contain the same samples in the same order, but the sample IDs of"
                        f" {other.filename} differ from those of {first.filename}. Export every chromosome from the"
                        " same samples (`bcftools view -S samples.txt` puts them in one order).",
                    )
                )
    if (
        rules.population is not None
        and rules.panel_populations is not None
        and rules.population not in rules.panel_populations
    ):
        problems.append(
            Problem(
                "error",
                "population_unsupported",
                f"Population '{rules.population}' is not offered by the chosen reference panel: choose one of"
                f" {', '.join(sorted(rules.panel_populations))}.",
            )
        )
    return tuple(problems)


@dataclass
class _Seen:
    """How often one kind of problem occurred, and its first occurrence (line number and what was there)."""

    count: int = 0
    line: int = 0
    example: tuple[Any, ...] = ()  # the values the message quotes, of whatever type each one has


@dataclass
class _Chromosome:
    name: str
    variants: int = 0
    first: int = 0
    last: int = 0
    windows: list[int] = field(default_factory=lambda: [0] * MAX_WINDOWS)


class _Fatal(Exception):
    """The rest of the file cannot be read as VCF; the problem has been recorded."""


class _Scan:
    def __init__(self, path: Path, filename: str, rules: ValidationRules, expected_build: Build | None) -> None:
        self.path = path
        self.filename = filename
        self.rules = rules
        self.expected_build = expected_build
        self.problems: list[Problem] = []
        self.size = path.stat().st_size
        self.content = ""
        self.compression = "other"
        self.complete = False
        self.bgzf_eof = False
        self.foreign_member_offset: int | None = None
        # header
        self.in_header = True
        self.line_number = 0
        self.version: tuple[int, int] | None = None
        self.contig_lengths: dict[str, int] = {}
        self.reference: str | None = None
        self.samples = 0
        self.samples_sha256: str | None = None
        self.duplicate_samples: list[tuple[str, int]] = []
        # records
        self.chromosomes: dict[bytes, _Chromosome] = {}
        self.current: _Chromosome | None = None
        self.current_key = b""
        self.last_position = 0
        self.variants = self.snvs = self.multiallelic = self.other_variants = 0
        self.strand_ambiguous = self.duplicate_positions = self.filtered = 0
        self.phased_records = self.unphased_records = self.genotyped_records = 0
        self.format_fields: set[str] = set()
        self.last_format = b""
        self.seen: dict[str, _Seen] = {}

    # -- reading ------------------------------------------------------------------------------------------------

    def run(self) -> None:
        packing = packing_sniff(self.path)
        self.compression = packing.compression
        if packing.content:
            self.content = packing.content
            with contextlib.suppress(_Fatal):
                self._not_vcf(b"")
            return
        self.bgzf_eof = self.compression == "bgzf" and bgzf_eof_present(self.path)
        stream = Decompressed(self.path, self.compression)
        try:
            for lines in self._batches(stream):
                self._lines(lines)
            self.complete = True
        except StreamError as exc:
            self._stream_error(exc)
        except _Fatal:
            pass
        self.foreign_member_offset = stream.foreign_member_offset
        if self.content == "vcf" and self.in_header and self.complete:
            self._error(
                "missing_header",
                "The file ends before the header's #CHROM line: a VCF needs a header that ends with the tab-separated"
                " line '#CHROM POS ID REF ALT QUAL FILTER INFO FORMAT' followed by the sample IDs. Export the file"
                " again (e.g. `bcftools view -Oz`).",
            )

    def _batches(self, chunks: Iterable[bytes]) -> Iterator[list[bytes]]:
        """Lines in batches of about a chunk; the first bytes decide whether this is a VCF at all."""
        pending = b""
        for chunk in chunks:
            if pending:
                chunk = pending + chunk
            if not self.content:
                if len(chunk) < len(_VCF_MAGIC):
                    pending = chunk
                    continue
                self._identify(chunk)
            lines = chunk.split(b"\n")
            pending = lines.pop()
            if len(pending) > MAX_LINE_BYTES:
                self._error(
                    "line_too_long",
                    f"Line {self.line_number + len(lines) + 1:,} is longer than {MAX_LINE_BYTES >> 20} MiB without"
                    " a line break, so the file is not a readable VCF. Check that it is a VCF text file.",
                )
                raise _Fatal
            yield lines
        if not self.content:
            self._identify(pending)
        if pending:
            yield [pending]

    def _identify(self, head: bytes) -> None:
        if head.startswith((b"BCF\x02", b"BCF\x04")):
            self.content = "bcf"
        elif head.startswith(_VCF_MAGIC):
            self.content = "vcf"
            return
        self._not_vcf(head)

    def _not_vcf(self, head: bytes) -> None:
        self.content = self.content or ("empty" if not head else "unknown")
        if self.content == "empty" and self.compression != "other":
            self.content = "unknown"
        name = shlex.quote(self.filename)
        if self.content == "empty":
            message = f"The file {self.filename} is empty (0 bytes). Upload the VCF again."
        elif self.content in _CONTENT_NAMES:
            what = _CONTENT_NAMES[self.content]
            fix = {
                "zip": f"unzip it (`unzip {name}`) and compress the VCF inside with bgzip (`bgzip -c file.vcf >"
                " file.vcf.gz`)",
                "bzip2": f"recompress it with bgzip: `bzcat {name} | bgzip -c > file.vcf.gz`",
                "xz": f"recompress it with bgzip: `xzcat {name} | bgzip -c > file.vcf.gz`",
                "zstd": f"recompress it with bgzip: `zstdcat {name} | bgzip -c > file.vcf.gz`",
                "bcf": f"convert it: `bcftools view -Oz -o file.vcf.gz {name}`",
            }[self.content]
            message = f"The file {self.filename} is {what}, not a bgzip-compressed VCF: {fix}."
        else:
            self.content = "unknown"
            preview = head[:40].decode("latin-1").encode("unicode_escape").decode("ascii")
            packed = {"bgzf": "bgzip-compressed ", "gzip": "gzip-compressed "}.get(self.compression, "")
            found = f"starts with '{preview}'" if preview else "holds no data"
            message = (
                f"The file {self.filename} is not a VCF: a VCF starts with the line '##fileformat=VCFv4.2' (or"
                f" another version), but this {packed}file {found}. Upload the genotypes as a VCF compressed with"
                " bgzip."
            )
        self._error("not_vcf", message)
        raise _Fatal

    def _stream_error(self, exc: StreamError) -> None:
        if exc.code == "truncated":
            self._error(
                "truncated",
                f"The provided VCF file is malformed: it is truncated (the file ends inside the {exc.detail} that"
                f" starts at byte {exc.offset:,} of {self.size:,}). Upload the complete file again; if your own copy is"
                " also cut short, export it again.",
            )
        else:
            self._error(
                "corrupt",
                f"The provided VCF file is malformed: its compressed data are corrupt at byte {exc.offset:,}"
                f" ({exc.detail}). Compress the original VCF again with bgzip and upload the new file.",
            )
        if not self.content:
            self.content = "unknown"

    # -- lines ----------------------------------------------------------------------------------------------------

    def _lines(self, lines: list[bytes]) -> None:
        if self.in_header:
            for index, line in enumerate(lines):
                self.line_number += 1
                if line.endswith(b"\r"):
                    line = line[:-1]
                if line.startswith(b"#"):
                    self._header_line(line)
                    if not self.in_header:
                        self._records(lines[index + 1 :])
                        return
                else:
                    self._error(
                        "missing_header",
                        f"Line {self.line_number:,} is a record, but the header has not ended with the tab-separated"
                        " line '#CHROM POS ID REF ALT QUAL FILTER INFO FORMAT' and the sample IDs. Export the file"
                        " again (e.g. `bcftools view -Oz`).",
                    )
                    raise _Fatal
            return
        self._records(lines)

    def _header_line(self, line: bytes) -> None:
        if self.line_number == 1:
            match = _VERSION.match(line)
            self.version = (int(match.group(1)), int(match.group(2))) if match else None
        elif line.startswith(b"##contig="):
            contig, length = _CONTIG_ID.search(line), _CONTIG_LENGTH.search(line)
            if contig and length and len(self.contig_lengths) < MAX_CHROMOSOMES:
                self.contig_lengths[contig.group(1).decode("utf-8", "replace")] = int(length.group(1))
        elif line.startswith(b"##reference="):
            self.reference = line[len(b"##reference=") :].decode("utf-8", "replace").strip()
        elif line.startswith(b"#CHROM"):
            self._column_header(line)
            self.in_header = False

    def _column_header(self, line: bytes) -> None:
        columns = line[1:].decode("utf-8", "replace").split("\t")
        if tuple(columns[:8]) != _FIXED_COLUMNS:
            shown = line[:80].decode("utf-8", "replace")
            self._error(
                "not_tab_delimited",
                f"The provided VCF file is not tab-delimited: the header line (line {self.line_number:,}) must list"
                f" #CHROM POS ID REF ALT QUAL FILTER INFO FORMAT and the sample IDs separated by tabs, but it reads"
                f" '{shown}'. Separate the columns with tabs.",
            )
            raise _Fatal
        samples = columns[9:]
        self.samples = len(samples)
        self.samples_sha256 = hashlib.sha256("\t".join(samples).encode()).hexdigest()
        counts = Counter(samples)
        self.duplicate_samples = [(sample, count) for sample, count in counts.items() if count > 1]

    def _records(self, lines: list[bytes]) -> None:
        """The hot loop: a few C-level operations per line, state kept in locals and written back at the end."""
        samples = self.samples
        number = self.line_number
        chromosome = self.current
        key = self.current_key
        last = self.last_position
        variants = snvs = multiallelic = others = ambiguous = duplicates = filtered = 0
        phased = unphased = genotyped = first_unphased = 0
        for line in lines:
            number += 1
            if line.endswith(b"\r"):
                line = line[:-1]
            fields = line.split(b"\t", 9)
            if len(fields) < 8:
                if line.startswith(b"#"):
                    continue  # tabix skips these too
                self._note("columns", number, len(fields), line[:60])
                continue
            if fields[0] != key or chromosome is None:
                key = fields[0]
                chromosome = self._chromosome(key, number, chromosome)
                last = 0
            try:
                position = int(fields[1])
            except ValueError:
                position = 0
            if position < 1:
                self._note("position", number, fields[1][:30])
                continue
            if position < last:
                self._note("unsorted", number, "position", chromosome.name, position, last)
            elif position == last:
                duplicates += 1
                self._note("duplicate_position", number, chromosome.name, position)
            last = position
            variants += 1
            chromosome.variants += 1
            if not chromosome.first:
                chromosome.first = position
            if position > chromosome.last:
                chromosome.last = position
            window = (position - 1) // WINDOW_BP
            if window < MAX_WINDOWS:
                chromosome.windows[window] += 1
            ref, alt = fields[3], fields[4]
            if len(ref) == 1 and len(alt) == 1:
                if ref.upper() == alt.upper():
                    self._note("ref_equals_alt", number, chromosome.name, position, ref, alt)
                elif ref in _SNV_BASES and alt in _SNV_BASES:
                    snvs += 1
                    if (ref + alt).upper() in _STRAND_AMBIGUOUS:
                        ambiguous += 1
                else:
                    others += 1
                    self._note("other_variant", number, chromosome.name, position, ref, alt)
            elif b"," in alt:
                multiallelic += 1
                self._note("multiallelic", number, chromosome.name, position, ref, alt)
                if ref.upper() in alt.upper().split(b","):
                    self._note("ref_equals_alt", number, chromosome.name, position, ref, alt)
            elif ref.upper() == alt.upper():
                self._note("ref_equals_alt", number, chromosome.name, position, ref, alt)
            else:
                others += 1
                self._note("other_variant", number, chromosome.name, position, ref, alt)
            if fields[6] not in _FILTER_PASSED:
                filtered += 1
                self._note("filtered", number, chromosome.name, position, fields[6][:40])
            if len(fields) == 10:
                columns = fields[9].count(b"\t") + 1
                if columns != samples:
                    self._note("sample_columns", number, columns)
                format_ = fields[8]
                if format_ == b"GT":
                    genotyped += 1
                    if b"/" in fields[9]:
                        unphased += 1
                        first_unphased = first_unphased or number
                    if b"|" in fields[9]:
                        phased += 1
                elif format_.startswith(b"GT:"):
                    genotyped += 1
                    self._format(format_)
                    if _GT_UNPHASED.search(fields[9]):
                        unphased += 1
                        first_unphased = first_unphased or number
                    if _GT_PHASED.search(fields[9]):
                        phased += 1
                else:
                    self._format(format_)
                    self._note("no_gt", number, format_[:40])
            elif samples:
                self._note("sample_columns", number, 0)
        if first_unphased and "unphased" not in self.seen:
            self.seen["unphased"] = _Seen(1, first_unphased)
        self.line_number = number
        self.current, self.current_key, self.last_position = chromosome, key, last
        self.variants += variants
        self.snvs += snvs
        self.multiallelic += multiallelic
        self.other_variants += others
        self.strand_ambiguous += ambiguous
        self.duplicate_positions += duplicates
        self.filtered += filtered
        self.phased_records += phased
        self.unphased_records += unphased
        self.genotyped_records += genotyped

    def _chromosome(self, key: bytes, number: int, previous: _Chromosome | None) -> _Chromosome:
        """The counters of the chromosome a record is on; coming back to an earlier one breaks tabix's order."""
        found = self.chromosomes.get(key)
        if found is not None:
            self._note("unsorted", number, "chromosome", found.name, previous.name if previous else "")
            return found
        name = key.decode("utf-8", "replace")
        if len(self.chromosomes) >= MAX_CHROMOSOMES:
            self._error(
                "too_many_chromosomes",
                f"The file names more than {MAX_CHROMOSOMES:,} different chromosomes (line {number:,}), so it is not"
                " one chromosome of genotypes. Split it by chromosome and upload chromosomes 1-22 and X only.",
            )
            raise _Fatal
        created = self.chromosomes[key] = _Chromosome(name)
        return created

    def _format(self, format_: bytes) -> None:
        if format_ != self.last_format and len(self.format_fields) < 50:
            self.last_format = format_
            self.format_fields.update(name.decode("utf-8", "replace") for name in format_.split(b":"))

    def _note(self, code: str, line: int, *example: Any) -> None:
        seen = self.seen.get(code)
        if seen is None:
            seen = self.seen[code] = _Seen(line=line, example=example)
        seen.count += 1

    def _error(self, code: str, message: str) -> None:
        self.problems.append(Problem("error", code, message))

    def _warning(self, code: str, message: str) -> None:
        self.problems.append(Problem("warning", code, message))

    # -- the report -----------------------------------------------------------------------------------------------

    def report(self) -> VcfReport:
        vcf = self.content == "vcf"
        if vcf:
            self._packing_problems()
            self._record_problems()
        chromosomes = tuple(
            ChromosomeSummary(c.name, c.variants, c.first, c.last) for c in self.chromosomes.values() if c.variants
        )
        guess = build_detect(self.contig_lengths, {c.name: c.last_position for c in chromosomes}, self.reference)
        if vcf:
            self._build_problems(chromosomes, guess.build, guess.evidence)
            self._sample_problems()
            self._genotype_problems()
            self._qc_warnings()
        index = next(
            (kind for kind in ("tbi", "csi") if self.path.with_name(f"{self.path.name}.{kind}").exists()), None
        )
        is_sorted = "unsorted" not in self.seen
        return VcfReport(
            filename=self.filename,
            size_bytes=self.size,
            content=self.content,
            compression=self.compression,
            complete=self.complete,
            bgzf_eof=self.bgzf_eof,
            sorted=is_sorted,
            tabix_indexable=vcf
            and self.complete
            and is_sorted
            and self.compression == "bgzf"
            and self.foreign_member_offset is None
            and not self.seen.keys() & {"columns", "position"},  # tabix must read CHROM and POS of every record
            index=index,
            vcf_version=f"{self.version[0]}.{self.version[1]}" if self.version else None,
            samples=self.samples,
            duplicate_samples=tuple(sample for sample, _count in self.duplicate_samples),
            samples_sha256=self.samples_sha256,
            chromosomes=chromosomes,
            chr_prefix=_prefix_style(chromosomes),
            expected_build=self.expected_build,
            detected_build=guess.build,
            build_evidence=guess.evidence,
            variants=self.variants,
            snvs=self.snvs,
            multiallelic=self.multiallelic,
            other_variants=self.other_variants,
            ref_equals_alt=self._count("ref_equals_alt"),
            strand_ambiguous=self.strand_ambiguous,
            strand_ambiguous_fraction=round(self.strand_ambiguous / self.snvs, 4) if self.snvs else 0.0,
            duplicate_positions=self.duplicate_positions,
            filtered=self.filtered,
            phasing=self._phasing(),
            phased_records=self.phased_records,
            unphased_records=self.unphased_records,
            format_fields=tuple(sorted(self.format_fields | ({"GT"} if self.genotyped_records else set()))),
            density=self._density(),
            problems=tuple(self.problems),
        )

    def _count(self, code: str) -> int:
        seen = self.seen.get(code)
        return seen.count if seen else 0

    def _phasing(self) -> str:
        if not self.genotyped_records:
            return "none"
        if not self.unphased_records:
            return "phased"
        return "mixed" if self.phased_records else "unphased"

    def _density(self) -> DensitySummary:
        counts: list[int] = []
        empty = 0
        for chromosome in self.chromosomes.values():
            occupied = [index for index, count in enumerate(chromosome.windows) if count]
            if occupied:
                span = chromosome.windows[occupied[0] : occupied[-1] + 1]
                counts.extend(count for count in span if count)
                empty += span.count(0)
        if not counts:
            return DensitySummary(window_bp=WINDOW_BP)
        return DensitySummary(WINDOW_BP, len(counts), min(counts), round(sum(counts) / len(counts), 1), empty)

    def _packing_problems(self) -> None:
        """Rule 1 (bgzip, sorted, complete: what `tabix -p vcf` needs) and the *.vcf.gz name."""
        name = shlex.quote(self.filename)
        malformed = "The provided VCF file is malformed:"
        if self.compression == "uncompressed":
            named = " although it is named .gz" if self.filename.endswith(".gz") else ""
            self._error(
                "not_compressed",
                f"{malformed} it is not compressed{named}; the servers need it compressed with bgzip. Run `bgzip -c"
                f" {name} > compressed.vcf.gz` and upload compressed.vcf.gz.",
            )
        elif self.compression == "gzip" or self.foreign_member_offset is not None:
            where = (
                f" from byte {self.foreign_member_offset:,} on"
                if self.compression == "bgzf" and self.foreign_member_offset
                else ""
            )
            self._error(
                "not_bgzf",
                f"{malformed} it is compressed with plain gzip{where}, not bgzip (BGZF), so tabix cannot index it."
                f" Recompress it: `zcat {name} | bgzip -c > compressed.vcf.gz`, and upload compressed.vcf.gz.",
            )
        elif self.complete and not self.bgzf_eof:
            self._error(
                "missing_bgzf_eof",
                f"{malformed} the end-of-file marker that bgzip writes is missing, so the file was probably cut short"
                " during a copy or download. Upload the complete file again; if your copy is complete, recompress"
                f" it: `zcat {name} | bgzip -c > compressed.vcf.gz`.",
            )
        if self.compression in ("bgzf", "gzip") and not self.filename.endswith(".vcf.gz"):
            stem = self.filename
            for suffix in (".gz", ".bgz", ".vcf"):
                stem = stem.removesuffix(suffix)
            self._error(
                "wrong_extension",
                f"Only files named *.vcf.gz are accepted: rename {self.filename} to {stem}.vcf.gz.",
            )
        unsorted = self.seen.get("unsorted")
        if unsorted:
            kind, chromosome, *rest = unsorted.example
            if kind == "position":
                position, previous = rest
                where = f"{chromosome}:{position:,} comes after {chromosome}:{previous:,}"
            else:
                where = f"chromosome {chromosome} starts again after chromosome {rest[0]}"
            self._error(
                "unsorted",
                f"{malformed} it is not sorted (line {unsorted.line:,}: {where}; {_times(unsorted.count)}), so tabix"
                f" cannot index it. Sort it: `bcftools sort -Oz -o sorted.vcf.gz {name}`, and upload sorted.vcf.gz.",
            )

    def _record_problems(self) -> None:
        """Rule 2 (tab-delimited records of the right width) and records with unusable positions."""
        columns = self.seen.get("columns")
        if columns:
            found, text = columns.example
            shown = _text(text)
            if found < 3:
                self._error(
                    "not_tab_delimited",
                    f"The provided VCF file is not tab-delimited: line {columns.line:,} ('{shown}') has"
                    f" {_plural(found, 'tab-separated column')} ({_times(columns.count)}). Separate the columns with"
                    " tabs, not spaces.",
                )
            else:
                self._error(
                    "too_few_columns",
                    f"Line {columns.line:,} has {_plural(found, 'column')} but a VCF record needs at least 8 (CHROM POS"
                    f" ID REF ALT QUAL FILTER INFO), then FORMAT and one column per sample ({_times(columns.count)})."
                    " Export the file again (e.g. `bcftools view -Oz`).",
                )
        mismatch = self.seen.get("sample_columns")
        if mismatch:
            (found,) = mismatch.example
            self._error(
                "sample_columns",
                f"Line {mismatch.line:,} has {_plural(found, 'genotype column')} but the #CHROM line names"
                f" {_plural(self.samples, 'sample')} ({_times(mismatch.count)}). Every record needs one column per"
                " sample: export the file again (e.g. `bcftools view -Oz`).",
            )
        position = self.seen.get("position")
        if position:
            (text,) = position.example
            self._error(
                "invalid_position",
                f"Line {position.line:,} has the position '{_text(text)}', which is not a"
                f" positive whole number ({_times(position.count)}). Correct or remove these records.",
            )
        if self.complete and not self.variants and not self.in_header and not columns and not position:
            self._error(
                "no_variants",
                "The file has a header but no variant records. Export the genotypes again and upload the file with"
                " its records.",
            )

    def _build_problems(self, chromosomes: tuple[ChromosomeSummary, ...], detected: str, evidence: str) -> None:
        """Rules 3 and 4 (one allowed chromosome per file) and 5 (naming vs build), plus the detected build."""
        rules = self.rules
        names = list(dict.fromkeys(chromosome_normalise(c.name) for c in chromosomes))
        name = shlex.quote(self.filename)
        if rules.one_chromosome_per_file and len(names) > 1:
            listed = ", ".join(c.name for c in chromosomes[:LISTED]) + (", ..." if len(chromosomes) > LISTED else "")
            first = chromosomes[0].name
            self._error(
                "multiple_chromosomes",
                f"The provided VCF file contains more than one chromosome ({listed}). Please split your input VCF file"
                f" by chromosome, one file each: `bcftools index {name}` once, then `bcftools view -r {first} -Oz -o"
                f" {first}.vcf.gz {name}` for each chromosome ({first} shown).",
            )
        invalid = [c.name for c in chromosomes if chromosome_normalise(c.name) not in rules.allowed_chromosomes]
        if invalid:
            self._error(
                "invalid_chromosome",
                f"Invalid chromosome found: {', '.join(invalid[:LISTED])}{', ...' if len(invalid) > LISTED else ''}."
                f" {rules.service} accepts chromosomes {rules.allowed_chromosomes_text()} only. Remove the other"
                f" records: `bcftools view -t ^{','.join(invalid[:LISTED])} -Oz -o filtered.vcf.gz {name}`.",
            )
        build = self.expected_build
        if build == "hg19":
            prefixed = [c.name for c in chromosomes if c.name.startswith("chr")]
            if prefixed:
                raw = prefixed[0]
                self._error(
                    "build_naming",
                    f"Your file contains chromosome '{raw}': this is not a valid hg19 encoding. For build hg19 name"
                    f" chromosomes without 'chr' ('{chromosome_normalise(raw)}'): `bcftools annotate --rename-chrs"
                    f" map.txt -Oz -o renamed.vcf.gz {name}` with lines like '{raw} {chromosome_normalise(raw)}' in"
                    " map.txt. If the data are hg38, choose build hg38 instead.",
                )
        elif build == "hg38":
            bare = [c.name for c in chromosomes if not c.name.startswith("chr")]
            if bare:
                raw = bare[0]
                self._error(
                    "build_naming",
                    f"Your file contains chromosome '{raw}': this is not a valid hg38 encoding. For build hg38"
                    f" chromosomes must be encoded as 'chr{raw}': `bcftools annotate --rename-chrs map.txt -Oz -o"
                    f" renamed.vcf.gz {name}` with lines like '{raw} chr{raw}' in map.txt. If the data are hg19, choose"
                    " build hg19 instead.",
                )
        if build and detected not in (build, "unknown"):
            self._error(
                "build_mismatch",
                f"The file is declared as {build} but its data are {detected}: {evidence}. Choose build {detected},"
                f" or lift the file over to {build} (e.g. with CrossMap or Picard LiftoverVcf) before uploading.",
            )
            return
        for chromosome in chromosomes:
            lengths = {b: chromosome_length(b, chromosome.name) for b in ([build] if build else BUILDS)}
            if all(length is not None and chromosome.last_position > length for length in lengths.values()):
                where = " and ".join(f"{b} ({length:,} bp)" for b, length in lengths.items())
                self._error(
                    "position_beyond_chromosome_end",
                    f"Position {chromosome.last_position:,} on {chromosome.name} is beyond the end of chromosome"
                    f" {chromosome_normalise(chromosome.name)} in {where}, so the data are not on"
                    f" {build or 'either build'}. Check which build the data are on, then declare that build or"
                    " export the file against the right one.",
                )
                return

    def _sample_problems(self) -> None:
        """Rules 7 (unique sample IDs) and 9 (the service's sample limits)."""
        if self.duplicate_samples:
            listed = ", ".join(f"{sample} ({count} times)" for sample, count in self.duplicate_samples[:LISTED])
            more = f" and {len(self.duplicate_samples) - LISTED:,} more" if len(self.duplicate_samples) > LISTED else ""
            self._error(
                "duplicate_samples",
                f"Sample IDs must be unique, but the #CHROM line repeats {listed}{more}. Give every sample its own ID:"
                f" `bcftools reheader -s new_ids.txt -o renamed.vcf.gz {shlex.quote(self.filename)}` with one ID per"
                " line, in the file's order.",
            )
        if self.in_header:
            return
        rules = self.rules
        if rules.min_samples and self.samples < rules.min_samples:
            self._error(
                "too_few_samples",
                f"At least {rules.min_samples} samples must be uploaded. This file has {self.samples:,}: imputation"
                f" on {rules.service} needs genotypes of at least {rules.min_samples} people in one job, so add"
                " samples (e.g. merge cohorts genotyped on the same array).",
            )
        elif rules.max_samples and self.samples > rules.max_samples:
            self._error(
                "too_many_samples",
                f"{rules.service} imputes at most {rules.max_samples:,} samples per job; this file has"
                f" {self.samples:,}. Split the samples into batches of at most {rules.max_samples:,} (`bcftools view"
                " -S batch1.txt -Oz -o batch1.vcf.gz ...`), submit one job per batch, and merge the results.",
            )
        elif not self.samples:
            self._error("no_samples", "The file has no sample columns: upload genotypes (a GT column per sample).")

    def _genotype_problems(self) -> None:
        """Rules 6 (REF != ALT), 10 (phasing), 12 (array density) and 13 (VCF version, GT)."""
        rules = self.rules
        same = self.seen.get("ref_equals_alt")
        if same:
            chromosome, position, ref, alt = same.example
            self._error(
                "ref_equals_alt",
                f"The reference allele ({_text(ref)}) and alternate allele ({_text(alt)}) are the same at line"
                f" {same.line:,} ({chromosome}:{position:,}; {_times(same.count)}). Correct the alleles or remove these"
                f" records: `bcftools view -e 'REF==ALT' -Oz -o fixed.vcf.gz {shlex.quote(self.filename)}`.",
            )
        unphased = self.seen.get("unphased")
        if unphased and rules.phasing in ("no_phasing", ""):
            self._error(
                "unphased",
                f"Your input data is unphased. Please select an algorithm for phasing. ({self.unphased_records:,} of"
                f" {self.genotyped_records:,} records have unphased genotypes written with '/', the first at line"
                f" {unphased.line:,}.)",
            )
        elif unphased and self.phased_records:
            self._warning(
                "mixed_phasing",
                f"{self.unphased_records:,} of {self.genotyped_records:,} records have unphased genotypes ('/', the"
                f" first at line {unphased.line:,}) and the others are phased ('|'): the servers treat the whole file"
                " as unphased and phase it again. Choose a phasing algorithm, or upload consistently phased data.",
            )
        density = self._density()
        limit = rules.max_mean_variants_per_chunk
        if limit and density.windows and density.mean > limit:
            self._error(
                "too_dense",
                f"The file has {self.variants:,} variants in {_plural(density.windows, 'chunk')} of 10 Mb, a mean of"
                f" {density.mean:,.0f} per chunk; {rules.service} accepts at most {limit:,}, as input genotypes are"
                " expected to come from array genotypes (not sequencing or already imputed data). Upload the"
                " genotyping-array variants only.",
            )
        if rules.max_vcf_version and self.version and self.version > rules.max_vcf_version:
            most = ".".join(map(str, rules.max_vcf_version))
            self._error(
                "vcf_version",
                f"The file is VCF version {self.version[0]}.{self.version[1]}, but {rules.service} reads VCF up to"
                f" version {most} only (newer versions break its chrX handling). Write the file as VCFv{most}: change"
                f" its first line to '##fileformat=VCFv{most}' (`bcftools view -h` to get the header, `bcftools"
                " reheader -h` to replace it).",
            )
        no_gt = self.seen.get("no_gt")
        if no_gt:
            (format_,) = no_gt.example
            self._error(
                "missing_gt",
                f"Line {no_gt.line:,} has the FORMAT '{_text(format_)}' without GT ({_times(no_gt.count)}): the servers"
                " impute from hard-called genotypes in a GT field, which must come first. Export the genotypes with"
                " GT.",
            )
        extra = sorted(self.format_fields - {"GT"})
        if extra and self.genotyped_records:
            self._warning(
                "extra_format_fields",
                f"FORMAT fields other than GT ({', '.join(extra)}) are ignored by the servers and only make the upload"
                " larger and slower: drop them with `bcftools annotate -x ^FORMAT/GT -Oz -o gt-only.vcf.gz"
                f" {shlex.quote(self.filename)}`.",
            )

    def _qc_warnings(self) -> None:
        """What the servers' QC step will silently exclude: worth fixing before the upload, but not fatal."""
        name = shlex.quote(self.filename)
        multi = self.seen.get("multiallelic")
        if multi:
            chromosome, position, _ref, _alt = multi.example
            self._warning(
                "multiallelic",
                f"{_plural(multi.count, 'record')} {'is' if multi.count == 1 else 'are'} multi-allelic (the first at"
                f" line {multi.line:,}, {chromosome}:{position:,}); the servers' QC excludes them. Split them into"
                f" biallelic records: `bcftools norm -m -any -Oz -o split.vcf.gz {name}`.",
            )
        other = self.seen.get("other_variant")
        if other:
            chromosome, position, ref, alt = other.example
            self._warning(
                "not_snv",
                f"{_plural(other.count, 'record')} {'is' if other.count == 1 else 'are'} not an A/C/G/T SNV (the first"
                f" at line {other.line:,}, {chromosome}:{position:,} {_text(ref)}>{_text(alt)}): the servers' QC"
                f" excludes indels and other non-SNVs. Keep SNVs only: `bcftools view -v snps -Oz -o snps.vcf.gz"
                f" {name}`.",
            )
        duplicate = self.seen.get("duplicate_position")
        if duplicate:
            chromosome, position = duplicate.example
            self._warning(
                "duplicate_positions",
                f"{_plural(duplicate.count, 'record')} repeat{'s' if duplicate.count == 1 else ''} the position of the"
                f" record before (the first at line {duplicate.line:,}, {chromosome}:{position:,}); the servers' QC"
                f" excludes duplicates. Remove them: `bcftools norm -d exact -Oz -o dedup.vcf.gz {name}`.",
            )
        filtered = self.seen.get("filtered")
        if filtered:
            chromosome, position, value = filtered.example
            self._warning(
                "filtered",
                f"{_plural(filtered.count, 'record')} {'has' if filtered.count == 1 else 'have'} a FILTER other than"
                f" PASS or '.' (the first at line {filtered.line:,}, {chromosome}:{position:,}: '{_text(value)}'); the"
                f" servers' QC excludes them. Keep passing records: `bcftools view -f PASS,. -Oz -o pass.vcf.gz"
                f" {name}`.",
            )
        sparse = []
        for chromosome in self.chromosomes.values():
            for start in range(0, MAX_WINDOWS, QC_CHUNK_WINDOWS):
                count = sum(chromosome.windows[start : start + QC_CHUNK_WINDOWS])
                if 0 < count < QC_MIN_VARIANTS:
                    first, end = start * WINDOW_BP + 1, (start + QC_CHUNK_WINDOWS) * WINDOW_BP
                    sparse.append(f"{chromosome.name}:{first:,}-{end:,} ({_plural(count, 'variant')})")
        if sparse:
            listed = ", ".join(sparse[:LISTED]) + (", ..." if len(sparse) > LISTED else "")
            self._warning(
                "sparse_chunk",
                f"The servers' QC drops every 20 Mb chunk with fewer than {QC_MIN_VARIANTS} variants, so these will"
                f" not be imputed: {listed}. Add the array's other variants in those regions, or expect no results"
                " there.",
            )


def _prefix_style(chromosomes: tuple[ChromosomeSummary, ...]) -> str | None:
    styles = {chromosome.name.startswith("chr") for chromosome in chromosomes}
    if not styles:
        return None
    return "mixed" if len(styles) > 1 else ("chr" if True in styles else "none")


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _times(count: int) -> str:
    return "1 such line" if count == 1 else f"{count:,} such lines"


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
