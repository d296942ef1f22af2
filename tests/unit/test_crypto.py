from __future__ import annotations

import pytest
from billing.crypto import (
    decrypt_secret,
    encrypt_secret,
    generate_api_key,
    hash_api_key,
    split_api_key,
    verify_api_key,
)
from billing.errors import ConfigurationError

SECRET = "unit-test-secret-key-0123456789"


def test_encrypted_gateway_keys_differ_from_the_plaintext_and_decrypt_back() -> None:
    token = encrypt_secret("evolution-key", secret_key=SECRET)
    assert "evolution-key" not in token
    assert decrypt_secret(token, secret_key=SECRET) == "evolution-key"


def test_decrypting_with_another_secret_key_says_the_key_changed() -> None:
    token = encrypt_secret("evolution-key", secret_key=SECRET)
    with pytest.raises(ConfigurationError, match="BILLING_SECRET_KEY"):
        decrypt_secret(token, secret_key="another-secret-key-0123456789")


def test_api_keys_carry_their_lookup_prefix_and_verify_against_their_hash() -> None:
    full, prefix, stored = generate_api_key()
    assert split_api_key(full) == prefix
    assert stored == hash_api_key(full) and full not in stored
    assert verify_api_key(full, stored)
    assert not verify_api_key(full + "x", stored)


@pytest.mark.parametrize("presented", ["", "bk_", "xx_12345678_abc", "bk_123_abc", "no-underscores"])
def test_keys_not_in_our_format_have_no_prefix(presented: str) -> None:
    assert split_api_key(presented) is None
