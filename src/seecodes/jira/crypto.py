"""Encryption at rest for the Jira tokens we hold (3LO access and refresh tokens, Forge system tokens).

Fernet (AES-128-CBC + HMAC-SHA256, authenticated) through MultiFernet: the first key in
SEECODES_JIRA_ENCRYPTION_KEYS encrypts, every listed key decrypts, so a key is rotated by putting a new
one first, running `seecodes jira rotate-keys`, then dropping the old one.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from seecodes.config import Settings
from seecodes.errors import JiraNotConfigured

_DERIVATION_INFO = b"seecodes/jira-token-encryption/v1"


class TokenUnreadable(Exception):
    """The ciphertext was written with a key that is no longer configured (or was altered)."""


class TokenCipher:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one key is required")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as error:
            raise TokenUnreadable(
                "a stored Jira token cannot be decrypted with the configured keys"
            ) from error

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the first key (a no-op in meaning, a new ciphertext in form)."""
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken as error:
            raise TokenUnreadable(
                "a stored Jira token cannot be decrypted with the configured keys"
            ) from error


def cipher_for(settings: Settings) -> TokenCipher:
    keys = [key.get_secret_value().encode() for key in settings.jira_encryption_keys]
    if keys:
        return TokenCipher(keys)
    if settings.is_production:
        raise JiraNotConfigured("SEECODES_JIRA_ENCRYPTION_KEYS is empty: Jira tokens cannot be stored.")
    return TokenCipher([_derived_key(settings.secret_key_bytes())])


def _derived_key(secret: bytes) -> bytes:
    """Outside production: a key of its own, derived from the server secret (never the secret itself)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_INFO).derive(secret)
    return base64.urlsafe_b64encode(derived)
