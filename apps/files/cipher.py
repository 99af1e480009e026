"""The cipher of result files' zip passwords: Fernet under `settings.FILES_ENCRYPTION_KEYS`; the first key
encrypts, every key decrypts (list a new key first, keep the old ones until nothing needs them).

Nothing here puts a key, a ciphertext or a password into an exception message or a log line.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CipherError(Exception):
    """No configured key opens this ciphertext: a key was dropped while data still needed it, or the data is damaged."""

    def __init__(self) -> None:
        super().__init__("No key in FILES_ENCRYPTION_KEYS decrypts this zip password.")


@lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FILES_ENCRYPTION_KEYS is empty; this process does not hold the files context")
    return MultiFernet([Fernet(key) for key in keys])


def secret_encrypt(plain: str) -> str:
    return _cipher(tuple(settings.FILES_ENCRYPTION_KEYS)).encrypt(plain.encode()).decode()


def secret_decrypt(cipher: str) -> str:
    try:
        return _cipher(tuple(settings.FILES_ENCRYPTION_KEYS)).decrypt(cipher.encode()).decode()
    except InvalidToken:
        raise CipherError() from None
