"""The files benchmark's floor must move every byte it is timed on, or its MB/s mean nothing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.benchmarks.files.floor import file_blocks, floor_measure


@pytest.mark.parametrize("chunk", [2 * 1024**2, 1024**2 + 1000], ids=["aligned chunks", "chunks off 4 KiB"])
def test_the_floor_receives_hashes_and_writes_every_byte(tmp_path: Path, chunk: int) -> None:
    # given a source of 3 MiB and 1000 bytes (its last chunk short and unaligned whatever the chunk size)
    data = os.urandom(3 * 1024**2 + 1000)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    # when the floor sends it to its receiver process in chunks
    seconds, digest = floor_measure(source, len(data), chunk, tmp_path / "received.bin")
    # then the receiver hashed exactly the source's bytes and wrote them, each where it belongs
    assert digest == hashlib.sha256(data).hexdigest() and seconds > 0
    assert (tmp_path / "received.bin").read_bytes() == data


def test_file_blocks_reads_the_range_asked_for() -> None:
    # given a file of known bytes
    source = Path(__file__)
    text = source.read_bytes()
    # when a range is read in blocks (one reused buffer)
    got = b"".join(bytes(block) for block in file_blocks(source, 10, 200))
    # then exactly that range comes back
    assert got == text[10:210]
