"""Realistic test genotypes from a coalescent simulation (msprime), with one deliberate defect per pre-flight rule.

Tests and demos need per-chromosome VCFs that look like real array or sequencing data (allele frequencies, linkage)
and files that break exactly one rule of reference/protocols.md §6 each, so every rule can be shown to produce its
own message. vcf_synthesise() writes large files (hundreds of MB to GBs) quickly for memory and speed checks.
"""

from __future__ import annotations

import gzip
import os
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msprime
import numpy as np
import pysam

from apps.genomics.builds import BUILDS, Build, chromosome_length, chromosome_normalise
from apps.genomics.compression import BGZF_EOF

DEFECTS: Final[Mapping[str, str]] = {
    # rule 1: what `tabix -p vcf` needs (bgzip, sorted, complete), and content that matches the name
    "plain_gzip": "compressed with plain gzip instead of bgzip",
    "uncompressed": "not compressed at all",
    "unsorted": "two records swapped, so positions go backwards",
    "truncated": "cut off in the middle of a compressed block",
    "missing_eof": "the BGZF end-of-file block removed",
    "not_vcf": "a bgzipped CSV of genotypes instead of a VCF",
    "zip": "a ZIP archive holding the VCF",
    # rule 2: tab-delimited records, one column per sample
    "space_delimited": "records separated by spaces instead of tabs",
    "sample_column_mismatch": "one record lacks its last sample's column",
    # rule 3: one chromosome per file
    "mixed_chromosomes": "the second half of the records on the next chromosome",
    # rule 5: naming and build
    "wrong_build_contigs": "##contig lengths and ##reference of the other build",
    "wrong_build_positions": "##contig without lengths and positions past the declared build's chromosome end",
    "no_contig_header": "no ##contig or ##reference lines",
    # rule 6, 7, 9, 10
    "ref_equals_alt": "three records whose ALT equals REF",
    "duplicate_samples": "the second sample named like the first",
    "few_samples": "only 5 samples",
    "mixed_phasing": "every other record unphased",
    # rule 13: VCF version and FORMAT
    "vcf_4_3": "##fileformat=VCFv4.3",
    "no_gt": "dosages (DS) instead of genotypes (GT)",
    "extra_format_fields": "GT:DS instead of GT",
    # what the servers' QC would exclude
    "multiallelic": "two records with a second ALT allele",
    "duplicate_positions": "two records repeating the previous position",
    "filtered": "two records with FILTER LowQual",
}

# defects after which `tabix -p vcf` fails, so no index can be written
UNINDEXABLE_DEFECTS: Final = frozenset(
    {"plain_gzip", "uncompressed", "unsorted", "truncated", "not_vcf", "zip", "space_delimited"}
)

_REFERENCE_NAMES: Final[Mapping[Build, str]] = {"hg19": "GRCh37", "hg38": "GRCh38"}
_HAPLOID: Final = frozenset({"Y", "MT"})
_FEW_SAMPLES: Final = 5
_START: Final = 1_000_000  # first simulated position, clear of the telomere
_MUTATIONS: Final = msprime.HKY(kappa=4.0)  # transitions twice as common as transversions, as in human SNVs


@dataclass(frozen=True)
class SimulatedVcf:
    path: Path
    chromosome: str  # as written in the file
    samples: int
    variants: int
    first_position: int
    last_position: int


@dataclass(frozen=True)
class _Sites:
    positions: np.ndarray  # 1-based, strictly increasing
    alleles: list[tuple[str, str]]
    haplotypes: np.ndarray  # sites x (samples * ploidy), allele indexes 0/1


def vcf_simulate(
    path: str | Path,
    *,
    samples: int,
    sites: int | None = None,
    length: int,
    chromosome: str = "20",
    build: Build,
    chr_prefix: bool | None = None,
    phased: bool = True,
    seed: int,
    defects: Iterable[str] = frozenset(),
    index: bool = False,
) -> SimulatedVcf:
    """Write a bgzipped VCF of `samples` people over `length` bp of `chromosome`, simulated with msprime.

    `sites` picks that many biallelic SNVs (all of them when None). Names follow the build unless `chr_prefix`
    says otherwise (hg19 "20", hg38 "chr20"). `defects` (keys of DEFECTS) break one rule each; `index` writes a
    tabix index next to the file. The same seed gives the same file.
    """
    defects = frozenset(defects)
    unknown = sorted(defects - DEFECTS.keys())
    if unknown:
        raise ValueError(f"unknown defects {unknown}; known: {sorted(DEFECTS)}")
    if build not in BUILDS:
        raise ValueError(f"build must be one of {BUILDS}, not {build!r}")
    if index and defects & UNINDEXABLE_DEFECTS:
        raise ValueError(f"tabix cannot index a file with {sorted(defects & UNINDEXABLE_DEFECTS)}")
    path = Path(path)
    plain = chromosome_normalise(chromosome)
    prefix = "chr" if (build == "hg38" if chr_prefix is None else chr_prefix) else ""
    contig = f"{prefix}{plain}"
    people = _FEW_SAMPLES if "few_samples" in defects else samples
    ploidy = 1 if plain in _HAPLOID else 2
    simulated = _simulate(people, sites, length, seed, ploidy)
    known = chromosome_length(build, plain)
    positions = simulated.positions + (_START if known is None or _START + length <= known else 0)
    if "wrong_build_positions" in defects:
        if known is None:
            raise ValueError(f"wrong_build_positions needs a chromosome of known length, not {chromosome!r}")
        positions = simulated.positions + known  # inside the other build when it is longer by `length`
    names = [f"S{number:05d}" for number in range(1, people + 1)]
    if "duplicate_samples" in defects and people > 1:
        names[1] = names[0]
    header = _header(contig, plain, build, names, defects)
    records = _records(contig, plain, positions, simulated, ploidy, phased, defects)
    if "not_vcf" in defects:
        header, records = _as_csv(contig, positions, names, simulated, ploidy)
    _write(path, header, records, defects)
    if index:
        pysam.tabix_index(str(path), preset="vcf", force=True, keep_original=True)
    return SimulatedVcf(path, contig, people, len(records), int(positions[0]), int(positions[-1]))


def vcf_synthesise(
    path: str | Path,
    *,
    size_bytes: int,
    samples: int = 1_000,
    chromosome: str = "20",
    build: Build = "hg19",
    seed: int = 1,
) -> SimulatedVcf:
    """Write a valid, sorted, bgzipped VCF of about `size_bytes` on disk, fast enough for GB-sized checks.

    Array-like genotypes (sites with minor allele frequency >= 5 %) are simulated once over 2 Mb and their
    genotype columns reused along the whole chromosome; bgzip level 1 keeps writing near 200 MB/s.
    """
    path = Path(path)
    plain = chromosome_normalise(chromosome)
    length = chromosome_length(build, plain)
    if length is None:
        raise ValueError(f"{chromosome!r} is not a chromosome of {build}")
    contig = f"{'chr' if build == 'hg38' else ''}{plain}"
    pool = _simulate(samples, None, 2_000_000, seed, 2)
    frequencies = pool.haplotypes.mean(axis=1)
    common = np.flatnonzero((frequencies >= 0.05) & (frequencies <= 0.95))
    rows = _genotype_columns(pool.haplotypes[common], 2, np.ones(len(common), dtype=bool), "GT")
    alleles = [pool.alleles[i] for i in common]
    compressed_row = len(gzip.compress(b"".join(rows[:64]), compresslevel=1)) / 64
    step = max(1, int((length - _START) * compressed_row / size_bytes / 1.5))
    names = [f"S{number:05d}" for number in range(1, samples + 1)]
    header = _header(contig, plain, build, names, frozenset())
    position, written = _START, 0
    # htslib reads the deflate level from the mode; the stub lists only Python's own modes
    with pysam.BGZFile(str(path), "wb1", None) as out:  # type: ignore[arg-type]
        out.write(header)
        while position <= length:
            batch = []
            for _ in range(256):
                index = written % len(rows)
                ref, alt = alleles[index]
                batch.append(f"{contig}\t{position}\t.\t{ref}\t{alt}\t.\tPASS\t.\tGT\t".encode() + rows[index])
                written += 1
                position += step
                if position > length:
                    break
            out.write(b"".join(batch))
            if written % (256 * 64) == 0 and os.path.getsize(path) >= size_bytes:
                break
    return SimulatedVcf(path, contig, samples, written, _START, position - step)


def _simulate(samples: int, sites: int | None, length: int, seed: int, ploidy: int) -> _Sites:
    """Biallelic SNVs of a neutral coalescent (human-like Ne and recombination), `sites` of them when given."""
    ancestry = msprime.sim_ancestry(
        samples=samples,
        ploidy=ploidy,
        sequence_length=length,
        recombination_rate=1e-8,
        population_size=10_000,
        random_seed=seed,
    )
    rate = 2e-8  # per bp per generation: human-like diversity when all sites are wanted
    if sites is not None:  # aim at 1.5 x the sites wanted: the expected count is rate x total branch length
        rate = 1.5 * sites / max(ancestry.segregating_sites(mode="branch", span_normalise=False), 1.0)
    for attempt in range(8):
        mutated = msprime.sim_mutations(ancestry, rate=rate, model=_MUTATIONS, random_seed=seed + attempt)
        keep = [variant for variant in mutated.variants() if len(variant.alleles) == 2 and variant.site.position > 0]
        if sites is None or len(keep) >= sites:
            break
        rate *= 1.5 * sites / max(len(keep), 1)
    else:
        raise ValueError(f"could not simulate {sites} sites over {length:,} bp; give a longer length")
    if sites is not None:
        chosen = np.sort(np.random.default_rng(seed).choice(len(keep), size=sites, replace=False))
        keep = [keep[i] for i in chosen]
    return _Sites(
        positions=np.array([int(variant.site.position) for variant in keep], dtype=np.int64),
        alleles=[(str(variant.alleles[0]), str(variant.alleles[1])) for variant in keep],
        haplotypes=np.array([variant.genotypes for variant in keep], dtype=np.uint8).reshape(
            len(keep), samples * ploidy
        ),
    )


def _header(contig: str, plain: str, build: Build, names: list[str], defects: frozenset[str]) -> bytes:
    other: Build = "hg38" if build == "hg19" else "hg19"
    described = other if "wrong_build_contigs" in defects else build
    lines = [f"##fileformat=VCFv{'4.3' if 'vcf_4_3' in defects else '4.2'}"]
    lines.append(f"##source=apps.genomics.simulate (msprime {msprime.__version__})")
    if "no_contig_header" not in defects:
        positions_only = "wrong_build_positions" in defects  # let the positions alone tell the build
        if not positions_only:
            lines.append(f"##reference={_REFERENCE_NAMES[described]}")
        contigs = [contig]
        if "mixed_chromosomes" in defects:
            contigs.append(_next_chromosome(contig, plain))
        for name in contigs:
            length = None if positions_only else chromosome_length(described, name)
            lines.append(f"##contig=<ID={name},length={length}>" if length else f"##contig=<ID={name}>")
    if "filtered" in defects:
        lines.append('##FILTER=<ID=LowQual,Description="Low quality">')
    if "no_gt" not in defects:
        lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    if defects & {"no_gt", "extra_format_fields"}:
        lines.append('##FORMAT=<ID=DS,Number=1,Type=Float,Description="Alternate allele dosage">')
    columns = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *names]
    lines.append("\t".join(columns))
    return ("\n".join(lines) + "\n").encode()


def _records(
    contig: str,
    plain: str,
    positions: np.ndarray,
    simulated: _Sites,
    ploidy: int,
    phased: bool,
    defects: frozenset[str],
) -> list[bytes]:
    count = len(positions)
    phasing = np.full(count, phased, dtype=bool)
    if "mixed_phasing" in defects:
        phasing[1::2] = False
    fields = "DS" if "no_gt" in defects else "GT:DS" if "extra_format_fields" in defects else "GT"
    columns = _genotype_columns(simulated.haplotypes, ploidy, phasing, fields)
    chromosomes = [contig] * count
    if "mixed_chromosomes" in defects:
        chromosomes[count // 2 :] = [_next_chromosome(contig, plain)] * (count - count // 2)
    ref = [a for a, _ in simulated.alleles]
    alt = [b for _, b in simulated.alleles]
    filters = ["PASS"] * count
    spots = [count // 4, count // 2, 3 * count // 4]  # well inside the file, away from its ends
    if "ref_equals_alt" in defects:
        for spot in spots:
            alt[spot] = ref[spot]
    if "multiallelic" in defects:
        for spot in spots[:2]:
            alt[spot] = f"{alt[spot]},{next(base for base in 'ACGT' if base not in (ref[spot], alt[spot]))}"
    if "filtered" in defects:
        for spot in spots[:2]:
            filters[spot] = "LowQual"
    position = [int(value) for value in positions]
    if "duplicate_positions" in defects:
        for spot in spots[:2]:
            position[spot] = position[spot - 1]
    separator = " " if "space_delimited" in defects else "\t"
    records = [
        separator.join((chromosomes[i], str(position[i]), ".", ref[i], alt[i], ".", filters[i], ".", fields)).encode()
        + separator.encode()
        + (columns[i] if separator == "\t" else columns[i].replace(b"\t", b" "))
        for i in range(count)
    ]
    if "sample_column_mismatch" in defects:
        spot = spots[1]
        records[spot] = records[spot][: records[spot].rstrip(b"\n").rfind(b"\t")] + b"\n"
    if "unsorted" in defects:
        records[spots[0]], records[spots[2]] = records[spots[2]], records[spots[0]]
    return records


def _genotype_columns(haplotypes: np.ndarray, ploidy: int, phased: np.ndarray, fields: str) -> list[bytes]:
    """One line end per site: the sample columns built as a byte matrix, so thousands of samples stay fast."""
    sites, width = haplotypes.shape
    people = width // ploidy
    alleles = haplotypes.reshape(sites, people, ploidy)
    if ploidy == 2 and not phased.all():
        unphased = ~phased
        low = alleles[unphased].min(axis=2)
        high = alleles[unphased].max(axis=2)
        alleles = alleles.copy()
        alleles[unphased, :, 0], alleles[unphased, :, 1] = low, high
    parts: list[np.ndarray] = []
    if fields.startswith("GT"):
        for copy in range(ploidy):
            if copy:
                separator = np.where(phased, ord("|"), ord("/")).astype(np.uint8)
                parts.append(np.broadcast_to(separator[:, None], (sites, people)))
            parts.append(alleles[:, :, copy] + ord("0"))
    if "DS" in fields:
        if parts:
            parts.append(np.full((sites, people), ord(":"), dtype=np.uint8))
        parts.append(alleles.sum(axis=2, dtype=np.uint8) + ord("0"))
    parts.append(np.full((sites, people), ord("\t"), dtype=np.uint8))
    matrix = np.stack(parts, axis=2).astype(np.uint8)
    matrix[:, -1, -1] = ord("\n")
    return [row.tobytes() for row in matrix.reshape(sites, -1)]


def _next_chromosome(contig: str, plain: str) -> str:
    following = str(int(plain) + 1) if plain.isdigit() and int(plain) < 22 else "1"
    return contig.removesuffix(plain) + following


def _as_csv(
    contig: str, positions: np.ndarray, names: list[str], simulated: _Sites, ploidy: int
) -> tuple[bytes, list[bytes]]:
    """The same genotypes as a spreadsheet export: what users sometimes upload instead of a VCF."""
    header = ("chromosome,position," + ",".join(names) + "\n").encode()
    people = len(names)
    rows = []
    for i, position in enumerate(positions):
        calls = simulated.haplotypes[i].reshape(people, ploidy).sum(axis=1)
        rows.append(f"{contig},{position},{','.join(map(str, calls))}\n".encode())
    return header, rows


def _write(path: Path, header: bytes, records: list[bytes], defects: frozenset[str]) -> None:
    body = header + b"".join(records)
    if "uncompressed" in defects:
        path.write_bytes(body)
    elif "plain_gzip" in defects:
        path.write_bytes(gzip.compress(body, mtime=0))
    elif "zip" in defects:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(path.name.removesuffix(".gz"), body)
    else:
        with pysam.BGZFile(str(path), "wb", None) as out:
            out.write(body)
    if "missing_eof" in defects or "truncated" in defects:
        data = path.read_bytes()[: -len(BGZF_EOF)]
        if "truncated" in defects:  # an interrupted download: half of the last block is missing
            last = bgzf_block_offsets(data)[-1]
            data = data[: last + (len(data) - last) // 2]
        path.write_bytes(data)


def bgzf_block_offsets(data: bytes) -> list[int]:
    """Where each BGZF block of `data` starts (read from the block headers' sizes)."""
    offsets, offset = [], 0
    while offset + 18 <= len(data):
        offsets.append(offset)
        offset += int.from_bytes(data[offset + 16 : offset + 18], "little") + 1
    return offsets
