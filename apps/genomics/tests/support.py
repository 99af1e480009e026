"""Helpers of the genomics tests: simulated inputs in a test's own directory, and a plain reading of them.

The reading here is deliberately naive (gzip + split), independent of the inspection under test, so expected line
numbers and positions come from the file itself rather than from the code being checked.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pysam

from apps.genomics.builds import Build
from apps.genomics.simulate import vcf_simulate


def simulate(
    directory: Path,
    name: str = "cohort.vcf.gz",
    *,
    samples: int = 30,
    sites: int | None = 300,
    length: int = 1_000_000,
    build: Build = "hg19",
    seed: int = 7,
    **options: Any,
) -> Path:
    """A small simulated file (30 people, 300 SNVs over 1 Mb of chromosome 20 unless told otherwise)."""
    written = vcf_simulate(
        directory / name, samples=samples, sites=sites, length=length, build=build, seed=seed, **options
    )
    return written.path


def text_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if data.startswith(b"\x1f\x8b"):
        data = gzip.decompress(data)
    return data.decode().splitlines()


def records(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, tab-separated fields) of every record."""
    return [
        (number, line.split("\t")) for number, line in enumerate(text_lines(path), start=1) if not line.startswith("#")
    ]


def rewrite(path: Path, edit: Callable[[list[str]], list[str]]) -> None:
    """Apply `edit` to the file's lines and write it back bgzipped, as a user's own tool might have written it."""
    lines = edit(text_lines(path))
    with pysam.BGZFile(str(path), "wb", None) as out:
        out.write(("\n".join(lines) + "\n").encode())


def with_field(line: str, index: int, value: str) -> str:
    """`line` with its tab-separated field `index` replaced."""
    fields = line.split("\t")
    fields[index] = value
    return "\t".join(fields)
