"""Recognise how a genotype file is packed and stream its decompressed bytes in bounded memory.

Decompression is done here with zlib rather than through htslib: htslib reports truncated or corrupt input on
the process's stderr and then simply stops, while the pre-flight must tell the user exactly that the file is
truncated (or corrupt, or plain gzip where bgzip is needed) and at which byte. BGZF members are read one at a
time by their declared size, so no chunk of output is ever larger than about 1 MiB whatever the file.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

CHUNK_BYTES: Final = 1 << 20
BGZF_MAX_BLOCK: Final = 1 << 16  # uncompressed bytes in one BGZF member, by the specification
# the 28-byte empty member bgzip writes last; its absence means the file was cut short (SAM/BAM spec §4.1.2)
BGZF_EOF: Final = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_GZIP_MAGIC: Final = b"\x1f\x8b"
_BGZF_HEADER: Final = struct.Struct("<4sIBBHccH")  # magic+CM+FLG, MTIME, XFL, OS, XLEN, SI1, SI2, SLEN
_BGZF_HEADER_BYTES: Final = 18  # the header above plus BSIZE

# what other formats start with: uploads named .vcf.gz are sometimes one of these
_FOREIGN_MAGIC: Final[tuple[tuple[bytes, str], ...]] = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BCF\x02", "bcf"),
)


class StreamError(Exception):
    """The compressed data end early ("truncated") or cannot be decoded ("corrupt") at `offset` in the file.

    For "truncated", `detail` names the unit the file ends inside (e.g. "compressed block"); for "corrupt", why.
    """

    def __init__(self, code: str, offset: int, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.offset = offset
        self.detail = detail


@dataclass(frozen=True)
class Packing:
    compression: str  # "bgzf", "gzip", "uncompressed" or "other"
    content: str  # "" until the content is known; otherwise what the file is: "zip", "bzip2", "empty", ...


def packing_sniff(path: Path) -> Packing:
    """How the file is packed, from its first bytes (gzip members carry a "BC" extra field when they are BGZF)."""
    with path.open("rb") as raw:
        head = raw.read(_BGZF_HEADER_BYTES)
    if not head:
        return Packing("other", "empty")
    for magic, content in _FOREIGN_MAGIC:
        if head.startswith(magic):
            return Packing("other", content)
    if head.startswith(_GZIP_MAGIC):
        return Packing("bgzf" if _bgzf_block_size(head) else "gzip", "")
    return Packing("uncompressed", "")


def bgzf_eof_present(path: Path) -> bool:
    with path.open("rb") as raw:
        size = raw.seek(0, 2)
        if size < len(BGZF_EOF):
            return False
        raw.seek(size - len(BGZF_EOF))
        return raw.read() == BGZF_EOF


class Decompressed:
    """Iterates over the decompressed bytes of a file in chunks of about CHUNK_BYTES.

    `foreign_member_offset` is set when a file that starts as BGZF goes on with plain gzip members: tabix cannot
    index such a file, though every byte of it decompresses.
    """

    def __init__(self, path: Path, compression: str) -> None:
        self.path = path
        self.compression = compression
        self.foreign_member_offset: int | None = None

    def __iter__(self) -> Iterator[bytes]:
        with self.path.open("rb") as raw:
            if self.compression == "uncompressed":
                while data := raw.read(CHUNK_BYTES):
                    yield data
            elif self.compression == "bgzf":
                yield from self._bgzf(raw)
            else:
                yield from self._gzip(raw, raw.read(CHUNK_BYTES), 0)

    def _bgzf(self, raw: BinaryIO) -> Iterator[bytes]:
        pieces: list[bytes] = []
        try:
            yield from self._bgzf_blocks(raw, pieces)
        except StreamError:
            if pieces:  # what decompressed before the damage still counts
                yield b"".join(pieces)
            raise

    def _bgzf_blocks(self, raw: BinaryIO, pieces: list[bytes]) -> Iterator[bytes]:
        buffer, start, offset = raw.read(CHUNK_BYTES), 0, 0  # offset: where buffer[0] is in the file
        size = 0
        while True:
            if len(buffer) - start < _BGZF_HEADER_BYTES or len(buffer) - start < _bgzf_block_size(
                buffer[start : start + _BGZF_HEADER_BYTES]
            ):
                more = raw.read(CHUNK_BYTES)
                if more:
                    offset += start
                    buffer, start = buffer[start:] + more, 0
                    continue
                if start == len(buffer):
                    break
            header = buffer[start : start + _BGZF_HEADER_BYTES]
            block_size = _bgzf_block_size(header)
            if not block_size:
                if header.startswith(_GZIP_MAGIC):
                    if len(header) == _BGZF_HEADER_BYTES:  # a complete header without the BGZF field: plain gzip
                        self.foreign_member_offset = offset + start
                        if pieces:
                            yield b"".join(pieces)
                            pieces.clear()
                        yield from self._gzip(raw, buffer[start:], offset + start)
                        return
                    raise StreamError("truncated", offset + start, "block header")
                raise StreamError("corrupt", offset + start, "these bytes do not start a gzip block")
            if len(buffer) - start < block_size:
                raise StreamError("truncated", offset + start, "compressed block")
            block = memoryview(buffer)[start : start + block_size]
            inflater = zlib.decompressobj(31)
            try:
                data = inflater.decompress(block, BGZF_MAX_BLOCK + 1)
            except zlib.error as exc:
                raise StreamError("corrupt", offset + start, str(exc)) from None
            if not inflater.eof or inflater.unused_data or len(data) > BGZF_MAX_BLOCK:
                raise StreamError("corrupt", offset + start, "the block does not decompress to its declared size")
            start += block_size
            if data:
                pieces.append(data)
                size += len(data)
                if size >= CHUNK_BYTES:
                    yield b"".join(pieces)
                    pieces.clear()
                    size = 0
        if pieces:
            yield b"".join(pieces)
            pieces.clear()

    @staticmethod
    def _gzip(raw: BinaryIO, buffer: bytes, offset: int) -> Iterator[bytes]:
        """Any sequence of gzip members (plain gzip or concatenated files); output bounded per call."""
        inflater: zlib._Decompress | None = None
        member_offset = offset
        while True:
            if inflater is None:
                while len(buffer) < len(_GZIP_MAGIC) and (more := raw.read(CHUNK_BYTES)):
                    buffer += more
                if not buffer:
                    return
                if not buffer.startswith(_GZIP_MAGIC):
                    if _GZIP_MAGIC.startswith(buffer):
                        raise StreamError("truncated", offset, "gzip header")
                    raise StreamError("corrupt", offset, "these bytes do not start a gzip member")
                inflater, member_offset = zlib.decompressobj(31), offset
            try:
                data = inflater.decompress(buffer, CHUNK_BYTES)
            except zlib.error as exc:
                raise StreamError("corrupt", member_offset, str(exc)) from None
            if data:
                yield data
            if inflater.eof:
                offset += len(buffer) - len(inflater.unused_data)
                buffer, inflater = inflater.unused_data, None
            elif inflater.unconsumed_tail:
                offset += len(buffer) - len(inflater.unconsumed_tail)
                buffer = inflater.unconsumed_tail
            elif data:  # input used up while output was capped: let zlib drain what it holds
                offset += len(buffer)
                buffer = b""
            else:
                offset += len(buffer)
                buffer = raw.read(CHUNK_BYTES)
                if not buffer:
                    raise StreamError("truncated", member_offset, "gzip member")


def _bgzf_block_size(header: bytes) -> int:
    """Total size of the BGZF member this header starts, or 0 when it is not a (complete) BGZF header."""
    if len(header) < _BGZF_HEADER_BYTES:
        return 0
    magic, _mtime, _xfl, _os, xlen, si1, si2, slen = _BGZF_HEADER.unpack_from(header)
    if magic[:3] != b"\x1f\x8b\x08" or not magic[3] & 4 or xlen != 6 or (si1, si2, slen) != (b"B", b"C", 2):
        return 0
    return int.from_bytes(header[16:18], "little") + 1
