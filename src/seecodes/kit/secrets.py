"""Issued secrets: random, prefixed, stored only as a hash, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# 32 random bytes = 256 bits, encoded as 43 url-safe characters.
SECRET_BYTES = 32


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(value: str) -> str:
    """SHA-256 hex. The secrets are 256-bit random, so a plain hash cannot be brute-forced."""
    return hashlib.sha256(value.encode()).hexdigest()


def same_secret(presented: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(presented), stored_hash)


def display_prefix(value: str, prefix: str, visible: int = 4) -> str:
    """What may be shown later ("av_inst_ab12…"): the type prefix and a few random characters.

    The prefix is passed in, not parsed: the random part may itself contain "_".
    """
    return f"{prefix}{value[len(prefix) : len(prefix) + visible]}…"
