"""Small pieces: the resumable SHA-256, file names, Content-Disposition and byte ranges."""

from __future__ import annotations

import hashlib
import os

import pytest

from apps.files.errors import RangeNotSatisfiableError
from apps.files.hashing import STATE_SIZE, ResumableSha256, resumable_sha256_available
from apps.files.naming import content_disposition, name_sanitise, suffix_of
from apps.files.services.downloads import ByteRange, range_parse


def test_the_hash_state_survives_a_round_trip_through_bytes() -> None:
    data = os.urandom(3_000_001)
    hasher = ResumableSha256()
    hasher.update(data[:1_234_567])

    state = hasher.state()
    resumed = ResumableSha256.from_state(state)
    resumed.update(data[1_234_567:])

    assert resumable_sha256_available()
    assert len(state) == STATE_SIZE
    assert resumed.hexdigest() == hashlib.sha256(data).hexdigest()


def test_hexdigest_leaves_the_running_state_alone() -> None:
    hasher = ResumableSha256()
    hasher.update(b"ab")
    hasher.hexdigest()
    hasher.update(b"c")

    assert hasher.hexdigest() == hashlib.sha256(b"abc").hexdigest()


def test_a_state_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match="112 bytes, not 3"):
        ResumableSha256.from_state(b"abc")


def test_views_hash_as_their_bytes_whether_writable_or_read_only() -> None:
    # given the same bytes as bytes, as a view of a writable buffer and as a read-only view
    data = os.urandom(3 * 1024**2 + 5)
    hashers = [ResumableSha256() for _ in range(3)]
    # when each is hashed in pieces
    for start in range(0, len(data), 1024**2):
        piece = data[start : start + 1024**2]
        hashers[0].update(piece)
        hashers[1].update(memoryview(bytearray(piece)))
        hashers[2].update(memoryview(piece))
    # then all three digests are the data's
    assert {hasher.hexdigest() for hasher in hashers} == {hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd.vcf.gz", "passwd.vcf.gz"),
        ("C:\\Users\\me\\chr1.vcf.gz", "chr1.vcf.gz"),
        (".hidden.vcf.gz", "hidden.vcf.gz"),
        ('a"b;c\r\nd.vcf.gz', "a_b_c__d.vcf.gz"),
        ("../..", "upload"),
        ("", "upload"),
    ],
)
def test_names_keep_only_their_last_safe_component(raw: str, clean: str) -> None:
    assert name_sanitise(raw) == clean


def test_a_long_name_is_cut_keeping_its_suffix() -> None:
    name = name_sanitise("x" * 400 + ".vcf.gz")

    assert (len(name), name[-7:]) == (255, ".vcf.gz")


def test_suffixes_match_case_insensitively_and_need_a_stem() -> None:
    assert suffix_of("CHR1.VCF.GZ", [".vcf.gz"]) == ".vcf.gz"
    assert suffix_of(".vcf.gz", [".vcf.gz"]) is None
    assert suffix_of("chr1.vcf", [".vcf.gz"]) is None


def test_content_disposition_cannot_be_broken_out_of() -> None:
    assert content_disposition('ünï "x".vcf.gz') == (
        "attachment; filename=\"uni _x_.vcf.gz\"; filename*=UTF-8''%C3%BCn%C3%AF%20%22x%22.vcf.gz"
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", ByteRange(0, 10)),
        ("bytes=90-", ByteRange(90, 100)),
        ("bytes=-5", ByteRange(95, 100)),
        ("bytes=-500", ByteRange(0, 100)),
        ("bytes=50-500", ByteRange(50, 100)),
        ("bytes=9-5", None),
        ("bytes=0-1,3-4", None),
        ("items=0-1", None),
        ("bytes=x-1", None),
    ],
)
def test_ranges(header: str, expected: ByteRange | None) -> None:
    assert range_parse(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiableError):
        range_parse(header, 100)
