"""Secrets at rest: gateway API keys encrypted with BILLING_SECRET_KEY; API keys hashed only."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from billing.errors import ConfigurationError

API_KEY_PREFIX_LEN = 8


def secret_keys(secret_key: str) -> list[str]:
    """BILLING_SECRET_KEY as its keys, newest first: ``"new,old"`` during a rotation."""
    return [key.strip() for key in secret_key.split(",") if key.strip()]


@functools.lru_cache(maxsize=4)
def _fernet(secret_key: str):  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet, MultiFernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    def derive(key: str) -> Fernet:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"billing/gateway-api-key").derive(
            key.encode()
        )
        return Fernet(base64.urlsafe_b64encode(derived))

    # The first key encrypts; any of them decrypts (a rotation lists the new key first, the old after).
    return MultiFernet([derive(key) for key in secret_keys(secret_key)])


def encrypt_secret(plaintext: str, *, secret_key: str) -> str:
    token: bytes = _fernet(secret_key).encrypt(plaintext.encode())
    return token.decode()


def decrypt_secret(ciphertext: str, *, secret_key: str) -> str:
    from cryptography.fernet import InvalidToken

    try:
        plain: bytes = _fernet(secret_key).decrypt(ciphertext.encode())
    except InvalidToken as exc:
        raise ConfigurationError("cannot decrypt a stored secret: was BILLING_SECRET_KEY changed?") from exc
    return plain.decode()


def reencrypt_secret(ciphertext: str, *, secret_key: str) -> str:
    """The same secret encrypted with the newest key (``billing secrets rotate``)."""
    from cryptography.fernet import InvalidToken

    try:
        token: bytes = _fernet(secret_key).rotate(ciphertext.encode())
    except InvalidToken as exc:
        raise ConfigurationError("a stored secret matches none of the keys in BILLING_SECRET_KEY") from exc
    return token.decode()


def generate_api_key() -> tuple[str, str, str]:
    """Return ``(full_key, prefix, hash)``. The full key is shown once and never stored."""
    prefix = secrets.token_hex(API_KEY_PREFIX_LEN // 2)
    full = f"bk_{prefix}_{secrets.token_urlsafe(32)}"
    return full, prefix, hash_api_key(full)


def hash_api_key(full_key: str) -> str:
    # The key carries 256 random bits, so a fast hash is safe here (no dictionary to attack).
    return hashlib.sha256(full_key.encode()).hexdigest()


def split_api_key(full_key: str) -> str | None:
    """The lookup prefix of a presented key, or None when it is not in our format."""
    parts = full_key.split("_", 2)
    if len(parts) != 3 or parts[0] != "bk" or len(parts[1]) != API_KEY_PREFIX_LEN:
        return None
    return parts[1]


def verify_api_key(full_key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(full_key), stored_hash)


def hash_webhook_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or "" for anything else."""
    scheme, _, value = (authorization or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def tokens_match(presented: str, expected: str) -> bool:
    """Compare a presented shared secret in constant time with each of ``expected``'s comma-separated
    tokens (several during a rotation); an empty one never matches."""
    if not presented:
        return False
    matches = [hmac.compare_digest(presented.encode(), token.strip().encode()) for token in expected.split(",")]
    return any(matches)


def first_token(value: str) -> str:
    """The token to send when several are configured (the newest comes first)."""
    return value.split(",", 1)[0].strip()
