"""What an inspection found: frozen, JSON-ready records that the files context stores and shows as they are."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One finding; `message` tells the user what is wrong and what to run or change to fix it."""

    severity: Severity
    code: str
    message: str


@dataclass(frozen=True)
class ChromosomeSummary:
    name: str  # as written in the file
    variants: int
    first_position: int
    last_position: int


@dataclass(frozen=True)
class DensitySummary:
    """Variants per window (the servers' 10 Mb chunks), over the windows that hold at least one variant."""

    window_bp: int = 10_000_000
    windows: int = 0
    min: int = 0
    mean: float = 0.0
    empty_windows: int = 0  # windows without variants between a chromosome's first and last variant


@dataclass(frozen=True)
class VcfReport:
    filename: str
    size_bytes: int
    content: str  # "vcf", or what the file is instead: "zip", "bcf", "bzip2", "xz", "zstd", "empty", "unknown"
    compression: str  # "bgzf", "gzip", "uncompressed" or "other"
    complete: bool  # read to the end, without a fatal error
    bgzf_eof: bool
    sorted: bool
    tabix_indexable: bool
    index: str | None  # "tbi" or "csi" when an index file sits next to the file
    vcf_version: str | None
    samples: int
    duplicate_samples: tuple[str, ...]
    samples_sha256: str | None  # of the sample IDs in order, to compare files without keeping the IDs
    chromosomes: tuple[ChromosomeSummary, ...]
    chr_prefix: str | None  # "chr", "none" or "mixed"; None without records
    expected_build: str | None
    detected_build: str  # "hg19", "hg38" or "unknown"
    build_evidence: str
    variants: int
    snvs: int  # biallelic A/C/G/T single-nucleotide variants
    multiallelic: int
    other_variants: int  # indels, symbolic or missing ALT
    ref_equals_alt: int
    strand_ambiguous: int  # A/T and C/G SNVs
    strand_ambiguous_fraction: float  # of the SNVs
    duplicate_positions: int
    filtered: int  # FILTER neither PASS nor "."
    phasing: str  # "phased", "unphased", "mixed" or "none" (no genotypes)
    phased_records: int
    unphased_records: int
    format_fields: tuple[str, ...]
    density: DensitySummary = field(default_factory=DensitySummary)
    problems: tuple[Problem, ...] = ()

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(problem for problem in self.problems if problem.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(problem for problem in self.problems if problem.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when nothing stops the file from being submitted (warnings may remain)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (tuples become lists); `ok` is included for readers that do not recompute it."""
        return {**_jsonable(asdict(self)), "ok": self.ok}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VcfReport:
        """The inverse of to_dict(), for reports stored as JSON."""
        values = {item.name: data[item.name] for item in fields(cls) if item.name in data}
        values["duplicate_samples"] = tuple(values["duplicate_samples"])
        values["format_fields"] = tuple(values["format_fields"])
        values["chromosomes"] = tuple(ChromosomeSummary(**item) for item in values["chromosomes"])
        values["density"] = DensitySummary(**values["density"])
        values["problems"] = tuple(Problem(**item) for item in values["problems"])
        return cls(**values)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value
