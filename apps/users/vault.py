"""The credential vault's cipher: Fernet under `settings.USERS_VAULT_KEYS`; the first key encrypts, all decrypt.

Listing a new key first and the old ones after it lets existing ciphertexts keep opening while
`manage.py users_vault_rotate` re-encrypts them; once it has run, the old keys can be dropped. Nothing here
ever puts a key, a ciphertext or a plaintext into an exception message or a log line.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class VaultDecryptError(Exception):
    """A ciphertext that none of the configured keys opens: a key was dropped too early, or the data is damaged."""

    def __init__(self) -> None:
        super().__init__(
            "No key in USERS_VAULT_KEYS decrypts this ciphertext: a key it was encrypted with has been removed "
            "(run `manage.py users_vault_rotate` before dropping a key), or the stored value is damaged."
        )


@lru_cache(maxsize=4)
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    """The cipher over every key and the current key's alone, built once per key list (settings can change in tests)."""
    if not keys:
        raise ImproperlyConfigured("USERS_VAULT_KEYS is empty; the credential vault needs at least one Fernet key")
    try:
        each = [Fernet(key) for key in keys]
    except ValueError:
        raise ImproperlyConfigured("USERS_VAULT_KEYS holds a value that is not a Fernet key") from None
    return MultiFernet(each), each[0]


def _configured() -> tuple[MultiFernet, Fernet]:
    keys: Sequence[str] = settings.USERS_VAULT_KEYS
    return _fernets(tuple(keys))


def vault_encrypt(plain: str) -> str:
    """Ciphertext of `plain` under the current (first) key."""
    every, _ = _configured()
    return every.encrypt(plain.encode()).decode()


def vault_decrypt(cipher: str) -> str:
    """The plaintext, whichever configured key opens it."""
    every, _ = _configured()
    try:
        return every.decrypt(cipher.encode()).decode()
    except InvalidToken:
        raise VaultDecryptError() from None


def vault_reencrypt(cipher: str) -> str:
    """The same plaintext encrypted under the current key (its original timestamp kept)."""
    every, _ = _configured()
    try:
        return every.rotate(cipher.encode()).decode()
    except InvalidToken:
        raise VaultDecryptError() from None


def vault_is_current(cipher: str) -> bool:
    """Whether the current key alone opens `cipher`, i.e. re-encrypting it would change nothing that matters."""
    _, current = _configured()
    try:
        current.decrypt(cipher.encode())
    except InvalidToken:
        return False
    return True
