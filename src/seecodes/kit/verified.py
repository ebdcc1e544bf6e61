"""What a signature check concluded, kept for the token's lifetime, so a token presented over and
over is verified once per process.

The IDE presents the same task permit on every request for a day; decoding and verifying it
(base64, JSON, the HMAC check, the claim rules) measured a sixth of a progress POST. (FITs are not
kept: Forge mints a new one for every invocation, so a kept one would only flatter a benchmark.) The result of
that check never changes for the same token until it expires, so it is kept, keyed by the whole
token: a token that differs in one byte is a different key and goes through the full check. Only
tokens that passed are kept; what revokes a credential (a permit's `jti` row, an installation's
status, a request key) is read from the database on every request, never from here.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")

MAX_ENTRIES = 4096


class VerifiedTokens(Generic[T]):
    __slots__ = ("_entries", "_max_entries")

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: dict[str, tuple[T, float]] = {}
        self._max_entries = max_entries

    def get(self, token: str, now: float) -> T | None:
        """The earlier conclusion for this exact token, while `now` is before its expiry."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if now >= entry[1]:
            del self._entries[token]
            return None
        return entry[0]

    def keep(self, token: str, value: T, expires_at: float) -> None:
        if len(self._entries) >= self._max_entries:
            # The oldest entry goes (dicts keep insertion order): bounded memory, no bookkeeping.
            del self._entries[next(iter(self._entries))]
        self._entries[token] = (value, expires_at)
