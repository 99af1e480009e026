"""File names as users send them: kept only as sanitised metadata, checked for an allowed suffix, and rendered
safely into Content-Disposition. Storage keys never come from here (apps/files/storage.py makes them up).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

NAME_MAX = 255
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|;]")  # separators, controls and what shells or headers choke on


def name_sanitise(raw: str) -> str:
    """The last path component of `raw`, without control or separator characters and leading dots.

    "../../etc/passwd.vcf.gz" becomes "passwd.vcf.gz"; a name with nothing usable left becomes "upload".
    """
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    if len(name) > NAME_MAX:  # keep the suffix, which carries the format
        stem, dot, suffix = name.partition(".")
        name = stem[: NAME_MAX - len(dot + suffix)] + dot + suffix if len(dot + suffix) < 32 else name[:NAME_MAX]
    return name or "upload"


def suffix_of(name: str, allowed: list[str]) -> str | None:
    """The allowed suffix `name` ends with (case-insensitive), longest first; None when there is none."""
    lowered = name.lower()
    for suffix in sorted(allowed, key=len, reverse=True):
        if lowered.endswith(suffix.lower()) and len(lowered) > len(suffix):
            return suffix
    return None


def content_disposition(name: str, *, attachment: bool = True) -> str:
    """An RFC 6266 header value: an ASCII fallback plus the UTF-8 name, neither able to break out of the quotes."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode() or "download"
    ascii_name = re.sub(r"[^A-Za-z0-9._ +()\[\]-]", "_", ascii_name)
    kind = "attachment" if attachment else "inline"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
