"""HMAC signatures for the local backend's storage URLs.

The signing key is derived from the server secret under its own purpose label, so a storage
signature can never verify as anything else we sign (permits use the secret itself with their own
`typ`/`aud`), and vice versa. What is signed is the whole request a URL allows — method, bucket,
key, expiry and the download filename — so a GET URL cannot be replayed as a PUT, nor pointed at
another key. Keys derived from previous secrets still verify, so a secret rotation does not break
URLs already handed out; they die at their expiry like any other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

import orjson

from seecodes.errors import StorageUrlExpired, StorageUrlRejected
from seecodes.kit.clock import Clock

_PURPOSE = b"seecodes:storage-url:v1"
# Digits only and at most 12 of them: an epoch until the year 33658, and no int() of a huge string.
_MAX_EXPIRES_DIGITS = 12

Method = Literal["GET", "PUT"]


@dataclass(frozen=True, slots=True)
class SignedRequest:
    method: Method
    bucket: str
    key: str
    expires: int
    filename: str | None = None

    def message(self) -> bytes:
        # A JSON array, not a joined string: no choice of key or filename can make two different
        # requests serialise alike.
        return orjson.dumps([self.method, self.bucket, self.key, self.expires, self.filename])


def derive_signing_key(secret: bytes) -> bytes:
    return hmac.new(secret, _PURPOSE, hashlib.sha256).digest()


class StorageUrlSigner:
    def __init__(self, secrets_newest_first: list[bytes], clock: Clock) -> None:
        if not secrets_newest_first:
            raise ValueError("at least one signing secret is required")
        self._keys = [derive_signing_key(secret) for secret in secrets_newest_first]
        self._clock = clock

    def expiry(self, expires_in: int) -> int:
        return self._clock.now_int() + expires_in

    def sign(self, request: SignedRequest) -> str:
        return _signature(self._keys[0], request)

    def verify(
        self,
        *,
        method: Method,
        bucket: str,
        key: str,
        expires: str | None,
        signature: str | None,
        filename: str | None = None,
    ) -> None:
        """Raise unless the signature covers exactly this request and it has not expired.

        The signature is checked first, so "expired" is only ever said of a URL we really issued.
        """
        if (
            not expires
            or not signature
            or len(expires) > _MAX_EXPIRES_DIGITS
            or not (expires.isascii() and expires.isdigit())
        ):
            raise StorageUrlRejected()
        request = SignedRequest(method, bucket, key, int(expires), filename)
        presented = signature.encode()
        # Every key is tried (no early exit), so timing does not tell which secret signed the URL.
        matches = [hmac.compare_digest(_signature(k, request).encode(), presented) for k in self._keys]
        if not any(matches):
            raise StorageUrlRejected()
        if self._clock.now() >= request.expires:
            raise StorageUrlExpired()


def _signature(key: bytes, request: SignedRequest) -> str:
    digest = hmac.new(key, request.message(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
