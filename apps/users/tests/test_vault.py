"""The vault's cipher: the first key of USERS_VAULT_KEYS encrypts, every key decrypts, failures say nothing secret."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from apps.users.vault import VaultDecryptError, vault_decrypt, vault_encrypt, vault_is_current, vault_reencrypt

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
PLAIN = "mis2-token-Qw7Er9Ty1Ui3Op5As"


def test_a_ciphertext_opens_to_the_plaintext_and_does_not_contain_it(settings: Any) -> None:
    settings.USERS_VAULT_KEYS = [KEY_A]

    cipher = vault_encrypt(PLAIN)

    assert PLAIN not in cipher
    assert Fernet(KEY_A).decrypt(cipher.encode()).decode() == PLAIN
    assert vault_decrypt(cipher) == PLAIN


def test_the_same_plaintext_encrypts_differently_each_time(settings: Any) -> None:
    settings.USERS_VAULT_KEYS = [KEY_A]

    assert vault_encrypt(PLAIN) != vault_encrypt(PLAIN)


def test_an_older_key_listed_after_the_current_one_still_decrypts(settings: Any) -> None:
    settings.USERS_VAULT_KEYS = [KEY_A]
    cipher = vault_encrypt(PLAIN)
    settings.USERS_VAULT_KEYS = [KEY_B, KEY_A]

    plain = vault_decrypt(cipher)

    assert plain == PLAIN
    assert not vault_is_current(cipher)


def test_new_ciphertexts_are_made_with_the_first_key_only(settings: Any) -> None:
    settings.USERS_VAULT_KEYS = [KEY_B, KEY_A]

    cipher = vault_encrypt(PLAIN)

    assert vault_is_current(cipher)
    assert Fernet(KEY_B).decrypt(cipher.encode()).decode() == PLAIN


def test_reencrypting_moves_a_ciphertext_to_the_current_key(settings: Any) -> None:
    settings.USERS_VAULT_KEYS = [KEY_A]
    old = vault_encrypt(PLAIN)
    settings.USERS_VAULT_KEYS = [KEY_B, KEY_A]

    new = vault_reencrypt(old)

    settings.USERS_VAULT_KEYS = [KEY_B]
    assert new != old
    assert vault_decrypt(new) == PLAIN
    assert vault_is_current(new)


@pytest.mark.parametrize("operation", [vault_decrypt, vault_reencrypt], ids=["decrypt", "reencrypt"])
def test_a_ciphertext_no_key_opens_is_a_vault_error_that_names_neither_secret(operation: Any, settings: Any) -> None:
    settings.USERS_VAULT_KEYS = [KEY_A]
    cipher = vault_encrypt(PLAIN)
    settings.USERS_VAULT_KEYS = [KEY_B]

    with pytest.raises(VaultDecryptError) as excinfo:
        operation(cipher)

    message = str(excinfo.value)
    assert message.startswith("No key in USERS_VAULT_KEYS decrypts this ciphertext")
    assert "users_vault_rotate" in message
    assert cipher not in message
    assert PLAIN not in message
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__suppress_context__


def test_damaged_ciphertext_is_a_vault_error(settings: Any) -> None:
    settings.USERS_VAULT_KEYS = [KEY_A]

    with pytest.raises(VaultDecryptError):
        vault_decrypt("not-a-fernet-token")


@pytest.mark.parametrize("keys", [[], ["not-a-fernet-key"]], ids=["no-keys", "bad-key"])
def test_unusable_keys_are_a_configuration_error_without_the_key(keys: list[str], settings: Any) -> None:
    settings.USERS_VAULT_KEYS = keys

    with pytest.raises(ImproperlyConfigured) as excinfo:
        vault_encrypt(PLAIN)

    assert "USERS_VAULT_KEYS" in str(excinfo.value)
    assert "not-a-fernet-key" not in str(excinfo.value)
