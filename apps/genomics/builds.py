"""Human genome builds (hg19 = GRCh37, hg38 = GRCh38): chromosome lengths, naming, and telling the builds apart.

The imputation servers trust the build the user declares and only check chromosome naming; a file labelled hg19
that really is hg38 is silently lifted over to garbage. These tables let the pre-flight catch that from the
header's ##contig lengths or from positions that exist in only one build.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

Build = Literal["hg19", "hg38"]
DetectedBuild = Literal["hg19", "hg38", "unknown"]
BUILDS: Final[tuple[Build, ...]] = ("hg19", "hg38")

# GRCh37 and GRCh38 primary assembly lengths (bp), keyed by the name without a "chr" prefix
CHROMOSOME_LENGTHS: Final[Mapping[Build, Mapping[str, int]]] = {
    "hg19": {
        "1": 249_250_621, "2": 243_199_373, "3": 198_022_430, "4": 191_154_276, "5": 180_915_260,
        "6": 171_115_067, "7": 159_138_663, "8": 146_364_022, "9": 141_213_431, "10": 135_534_747,
        "11": 135_006_516, "12": 133_851_895, "13": 115_169_878, "14": 107_349_540, "15": 102_531_392,
        "16": 90_354_753, "17": 81_195_210, "18": 78_077_248, "19": 59_128_983, "20": 63_025_520,
        "21": 48_129_895, "22": 51_304_566, "X": 155_270_560, "Y": 59_373_566, "MT": 16_569,
    },
    "hg38": {
        "1": 248_956_422, "2": 242_193_529, "3": 198_295_559, "4": 190_214_555, "5": 181_538_259,
        "6": 170_805_979, "7": 159_345_973, "8": 145_138_636, "9": 138_394_717, "10": 133_797_422,
        "11": 135_086_622, "12": 133_275_309, "13": 114_364_328, "14": 107_043_718, "15": 101_991_189,
        "16": 90_338_345, "17": 83_257_441, "18": 80_373_285, "19": 58_617_616, "20": 64_444_167,
        "21": 46_709_983, "22": 50_818_468, "X": 156_040_895, "Y": 57_227_415, "MT": 16_569,
    },
}  # fmt: skip

# words in a ##reference line that name a build (checked lower-case, most specific first)
_REFERENCE_HINTS: Final[tuple[tuple[str, Build], ...]] = (
    ("grch38", "hg38"),
    ("hg38", "hg38"),
    ("grch37", "hg19"),
    ("hg19", "hg19"),
    ("hs37d5", "hg19"),
    ("human_g1k_v37", "hg19"),
    ("b37", "hg19"),
)


def chromosome_normalise(name: str) -> str:
    """The name the servers compare: a leading "chr" removed, "23" kept as is (they accept both 23 and X)."""
    return name[3:] if name.startswith("chr") else name


def chromosome_length(build: Build, name: str) -> int | None:
    """Length of a chromosome in a build; 23 is X. None for contigs the table does not know."""
    key = chromosome_normalise(name)
    return CHROMOSOME_LENGTHS[build].get("X" if key == "23" else key)


def build_from_reference(reference: str) -> Build | None:
    """The build a ##reference value names (e.g. GRCh37, hg38, hs37d5), if any."""
    lowered = reference.lower()
    for word, build in _REFERENCE_HINTS:
        if word in lowered:
            return build
    return None


@dataclass(frozen=True)
class BuildGuess:
    build: DetectedBuild
    evidence: str


def build_detect(
    contig_lengths: Mapping[str, int],
    max_positions: Mapping[str, int],
    reference: str | None,
) -> BuildGuess:
    """Decide hg19 vs hg38 from header contig lengths, then positions, then the ##reference line.

    Positions beyond a chromosome's end in one build rule that build out; header lengths that match exactly one
    build vote for it. Conflicting evidence gives "unknown" rather than a guess.
    """
    excluded: dict[Build, str] = {}
    for name, position in max_positions.items():
        for build in BUILDS:
            length = chromosome_length(build, name)
            if length is not None and position > length and build not in excluded:
                excluded[build] = (
                    f"position {position:,} on {name} is beyond the end of chromosome "
                    f"{chromosome_normalise(name)} in {build} ({length:,} bp)"
                )
    votes: dict[Build, str] = {}
    for name, length in contig_lengths.items():
        matches = [build for build in BUILDS if chromosome_length(build, name) == length]
        if len(matches) == 1 and matches[0] not in votes:
            votes[matches[0]] = f"##contig {name} has length {length:,}, as in {matches[0]}"
    if len(excluded) == len(BUILDS):
        return BuildGuess("unknown", f"{excluded['hg19']}; {excluded['hg38']}")
    if len(votes) > 1:
        return BuildGuess("unknown", f"the ##contig lengths mix builds: {votes['hg19']}, but {votes['hg38']}")
    if votes:
        ((build, evidence),) = votes.items()
        if build in excluded:
            return BuildGuess("unknown", f"{evidence}, but {excluded[build]}")
        return BuildGuess(build, evidence)
    if excluded:
        ((ruled_out, evidence),) = excluded.items()
        return BuildGuess("hg38" if ruled_out == "hg19" else "hg19", evidence)
    hinted = build_from_reference(reference) if reference else None
    if hinted:
        return BuildGuess(hinted, f"the ##reference line names {reference}")
    return BuildGuess("unknown", "no ##contig lengths, ##reference line or positions that tell hg19 from hg38")
