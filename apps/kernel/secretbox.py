"""Fernet boxes for secrets a context keeps at rest (zip passwords, ...): the first key of a setting encrypts,
every key decrypts, so keys rotate by listing a new one first and dropping old ones when nothing needs them.

Nothing here puts a key, a ciphertext or a plain secret into an exception message or a log line.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretBoxError(Exception):
    """No configured key opens this ciphertext: a key was dropped while data still needed it, or the data is damaged."""


@lru_cache(maxsize=8)
def _cipher(setting: str, keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(f"{setting} is empty; this process does not hold the keys of that context")
    return MultiFernet([Fernet(key) for key in keys])


def secret_seal(plain: str, *, setting: str) -> str:
    """`plain` encrypted under the first key of the list setting named `setting`."""
    return _cipher(setting, tuple(getattr(settings, setting))).encrypt(plain.encode()).decode()


def secret_open(sealed: str, *, setting: str) -> str:
    try:
        return _cipher(setting, tuple(getattr(settings, setting))).decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise SecretBoxError(f"No key in {setting} decrypts this secret.") from None
