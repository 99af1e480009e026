"""Quality control of typed sites against a reference panel (protocols.md §6, "QC stage").

Each input site is compared with the panel site at the same position: identical alleles are kept; swapped
alleles (switch), complemented alleles (strand flip), both, or other alleles are excluded and counted, as are
invalid, filtered, duplicate, monomorphic or poorly called sites. Chunks of 20 Mb are then kept only with enough
panel overlap. The kept sites are written to a VCF that Beagle takes as its target.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pysam

_COMPLEMENT: Final = str.maketrans("ACGT", "TGCA")
_BASES: Final = frozenset("ACGT")


@dataclass(frozen=True)
class QcThresholds:
    """Defaults of imputationserver2; a panel or an operator may override them."""

    chunk_size: int = 20_000_000
    min_snps: int = 3
    overlap: float = 0.5
    sample_call_rate: float = 0.5
    snp_call_rate: float = 0.9
    strand_flips: int = 100
    allele_switches: int = -1  # -1: unlimited (the code default)


@dataclass
class QcResult:
    chromosome: str
    kept: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    excluded: list[str] = field(default_factory=list)  # "position\treason" lines
    typed_only: list[str] = field(default_factory=list)
    chunks_excluded: list[str] = field(default_factory=list)
    chunks_kept: int = 0

    @property
    def strand_flips(self) -> int:
        return self.counts["strand_flip"] + self.counts["flip_and_switch"]

    @property
    def allele_switches(self) -> int:
        return self.counts["allele_switch"] + self.counts["flip_and_switch"]


def panel_sites(panel_path: Path, contig: str) -> dict[int, tuple[str, str]]:
    """Position -> (REF, ALT) of the panel's biallelic SNVs on `contig`."""
    sites: dict[int, tuple[str, str]] = {}
    with pysam.VariantFile(str(panel_path)) as panel:
        for record in panel.fetch(contig) if panel.index is not None else panel:
            if record.alts and len(record.alts) == 1 and record.contig == contig:
                sites[record.pos] = ((record.ref or "").upper(), record.alts[0].upper())
    return sites


def qc_chromosome(input_path: Path, panel_path: Path, output_path: Path, thresholds: QcThresholds) -> QcResult:
    """Compare every site of one single-chromosome input with the panel and write the kept ones to `output_path`."""
    with pysam.VariantFile(str(input_path)) as source:
        samples = list(source.header.samples)
        records = list(source)
    contig = records[0].contig if records else ""
    result = QcResult(chromosome=contig)
    reference = panel_sites(panel_path, contig) if records else {}
    keep: list[pysam.VariantRecord] = []
    seen: set[int] = set()
    for record in records:
        reason = _site_problem(record, seen, reference, thresholds, result)
        if reason:
            result.counts[reason] += 1
            if reason == "typed_only":
                result.typed_only.append(f"{record.contig}:{record.pos}:{record.ref}:{','.join(record.alts or ())}")
            else:
                result.excluded.append(f"{record.contig}:{record.pos}\t{reason}")
            continue
        keep.append(record)
    chunks: dict[int, list[pysam.VariantRecord]] = {}
    for record in keep:
        chunks.setdefault((record.pos - 1) // thresholds.chunk_size, []).append(record)
    valid_by_chunk = Counter((int(line.split(":")[1]) - 1) // thresholds.chunk_size for line in result.typed_only)
    kept: list[pysam.VariantRecord] = []
    for index in sorted(set(chunks) | set(valid_by_chunk)):
        members = chunks.get(index, [])
        total = len(members) + valid_by_chunk[index]
        start, end = index * thresholds.chunk_size + 1, (index + 1) * thresholds.chunk_size
        overlap = len(members) / total if total else 0.0
        worst = _worst_sample_call_rate(members, len(samples))
        if len(members) < thresholds.min_snps or overlap < thresholds.overlap or worst < thresholds.sample_call_rate:
            result.chunks_excluded.append(f"{contig}:{start}-{end}\t{len(members)}\t{overlap:.3f}\t{worst:.3f}")
            continue
        result.chunks_kept += 1
        kept.extend(members)
    with (
        pysam.VariantFile(str(input_path)) as source,
        pysam.VariantFile(str(output_path), "wz", header=source.header) as out,
    ):
        for record in kept:
            out.write(record)
    result.kept = len(kept)
    return result


def _site_problem(
    record: pysam.VariantRecord,
    seen: set[int],
    reference: dict[int, tuple[str, str]],
    thresholds: QcThresholds,
    result: QcResult,
) -> str | None:
    alts = record.alts or ()
    if len(alts) != 1:
        return "multiallelic" if len(alts) > 1 else "monomorphic"
    ref, alt = (record.ref or "").upper(), alts[0].upper()
    if len(ref) != 1 or len(alt) != 1:
        return "indel"
    if ref not in _BASES or alt not in _BASES:
        return "invalid_alleles"
    if record.pos in seen:
        return "duplicate"
    seen.add(record.pos)
    filters = list(record.filter.keys())
    if filters and filters != ["PASS"]:
        return "filtered"
    if record.pos not in reference:
        return "typed_only"
    panel_ref, panel_alt = reference[record.pos]
    if {ref, alt} in ({"A", "T"}, {"C", "G"}):
        result.counts["strand_ambiguous"] += 1  # counted as "complicated", kept when the alleles agree
    if (ref, alt) != (panel_ref, panel_alt):
        flipped = (ref.translate(_COMPLEMENT), alt.translate(_COMPLEMENT))
        if (alt, ref) == (panel_ref, panel_alt):
            return "allele_switch"
        if flipped == (panel_ref, panel_alt):
            return "strand_flip"
        if flipped[::-1] == (panel_ref, panel_alt):
            return "flip_and_switch"
        return "allele_mismatch"
    called = alleles = total = 0
    for sample in record.samples.values():
        for allele in sample.get("GT") or ():
            total += 1
            called += allele is not None
            alleles += allele or 0
    if total and called / total < thresholds.snp_call_rate:
        return "low_call_rate"
    if alleles in (0, called):
        return "monomorphic"
    return None


def _worst_sample_call_rate(records: list[pysam.VariantRecord], samples: int) -> float:
    if not records or not samples:
        return 1.0
    missing = [0] * samples
    for record in records:
        for index, sample in enumerate(record.samples.values()):
            if any(allele is None for allele in sample.get("GT") or (None,)):
                missing[index] += 1
    return 1.0 - max(missing) / len(records)
