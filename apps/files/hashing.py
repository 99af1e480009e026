"""A SHA-256 whose running state can be saved between requests, so a resumed upload keeps hashing where it stopped.

Why not hashlib: its objects cannot be pickled or exported, so a PATCH served by another process (a restart,
another replica behind the gateway) would have to re-read every byte already stored to rebuild the digest, and
the parts of an unfinished S3 multipart upload cannot be read back at all. OpenSSL's classic SHA256_CTX is a
plain 112-byte struct (public header openssl/sha.h, unchanged since 0.9.8), so the state is stored as those bytes
in the upload's row after every chunk and loaded by whichever process takes the next one. The functions are
deprecated, not removed, in OpenSSL 3; `resumable_sha256_available()` says whether this libcrypto has them, and
the known-answer check below refuses a library whose struct does not match. Without them the digest is computed
from the stored bytes once the upload is complete (apps/files/services/validation.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import sys
from functools import lru_cache

STATE_SIZE = 112  # 8 + 2 + 16 + 2 unsigned 32-bit words
_CANDIDATES = ("libcrypto.so.3", "libcrypto.so.1.1")


class _Sha256Ctx(ctypes.Structure):
    _fields_ = [
        ("h", ctypes.c_uint32 * 8),
        ("Nl", ctypes.c_uint32),
        ("Nh", ctypes.c_uint32),
        ("data", ctypes.c_uint32 * 16),
        ("num", ctypes.c_uint),
        ("md_len", ctypes.c_uint),
    ]


class _Libcrypto:
    def __init__(self, lib: ctypes.CDLL) -> None:
        self.init = lib.SHA256_Init
        self.update = lib.SHA256_Update
        self.final = lib.SHA256_Final
        self.init.argtypes = [ctypes.c_void_p]
        self.update.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        self.final.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        for function in (self.init, self.update, self.final):
            function.restype = ctypes.c_int


def _load() -> _Libcrypto | None:
    if sys.platform != "linux":  # macOS aborts a process that loads its unversioned system libcrypto
        return None
    names = [*_CANDIDATES, ctypes.util.find_library("crypto")]
    for name in filter(None, names):
        try:
            return _Libcrypto(ctypes.CDLL(name))
        except (OSError, AttributeError):
            continue
    return None


@lru_cache(maxsize=1)
def _libcrypto() -> _Libcrypto | None:
    lib = _load()
    if lib is None:
        return None
    probe = ResumableSha256(_lib=lib)
    probe.update(b"ab")
    probe = ResumableSha256.from_state(probe.state(), _lib=lib)
    probe.update(b"c" * 200)
    return lib if probe.hexdigest() == hashlib.sha256(b"ab" + b"c" * 200).hexdigest() else None


def resumable_sha256_available() -> bool:
    return _libcrypto() is not None


class ResumableSha256:
    """hashlib.sha256's update/hexdigest, plus `state()` and `from_state()` to carry it across processes."""

    def __init__(self, *, _lib: _Libcrypto | None = None) -> None:
        lib = _lib or _libcrypto()
        if lib is None:
            raise RuntimeError("no libcrypto with SHA256_Init/Update/Final is available")
        self._lib = lib
        self._ctx = _Sha256Ctx()
        self._lib.init(ctypes.byref(self._ctx))

    @classmethod
    def from_state(cls, state: bytes, *, _lib: _Libcrypto | None = None) -> ResumableSha256:
        if len(state) != STATE_SIZE:
            raise ValueError(f"a SHA-256 state is {STATE_SIZE} bytes, not {len(state)}")
        hasher = cls(_lib=_lib)
        hasher._ctx = _Sha256Ctx.from_buffer_copy(state)
        return hasher

    def update(self, data: bytes | memoryview) -> None:
        """Hash `data`; a writable view (a reused receive buffer) is read in place, a read-only one is copied."""
        if isinstance(data, memoryview):
            if data.readonly or not data.c_contiguous:
                data = data.tobytes()
            else:
                size = data.nbytes
                self._lib.update(ctypes.byref(self._ctx), (ctypes.c_char * size).from_buffer(data), size)
                return
        if not isinstance(data, bytes):
            raise TypeError(f"SHA-256 hashes bytes, not {type(data).__name__}")
        self._lib.update(ctypes.byref(self._ctx), data, len(data))

    def state(self) -> bytes:
        return bytes(self._ctx)

    def hexdigest(self) -> str:
        """The digest so far; the running state is left untouched, as with hashlib."""
        copy = _Sha256Ctx.from_buffer_copy(bytes(self._ctx))
        out = ctypes.create_string_buffer(32)
        self._lib.final(out, ctypes.byref(copy))
        return out.raw.hex()
