"""The files benchmark's floor must move every byte it is timed on, or its MB/s mean nothing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.benchmarks.files.floor import file_blocks, floor_measure


def test_the_floor_receives_every_byte_including_a_short_unaligned_last_chunk(tmp_path: Path) -> None:
    # given a source of 3 MiB and 1000 bytes, sent in 2 MiB chunks (the last one 1 MiB + 1000 bytes)
    data = os.urandom(3 * 1024**2 + 1000)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    # when the floor sends it to its receiver process
    seconds, digest = floor_measure(source, len(data), 2 * 1024**2, tmp_path / "received.bin")
    # then the receiver hashed exactly the source's bytes, and cleaned up after itself
    assert digest == hashlib.sha256(data).hexdigest() and seconds > 0
    assert not (tmp_path / "received.bin").exists()


def test_file_blocks_reads_the_range_asked_for() -> None:
    # given a file of known bytes
    source = Path(__file__)
    text = source.read_bytes()
    # when a range is read in blocks (one reused buffer)
    got = b"".join(bytes(block) for block in file_blocks(source, 10, 200))
    # then exactly that range comes back
    assert got == text[10:210]
