"""How many run event streams may be open at once, per permit and per installation.

Each open stream holds a connection and a task, and every batch of new events is read once per
stream (the database is looked at once per tick for all of them, `watch.py`), so one permit opening
thousands of them could still slow every other tenant. The count is per API process (a stream lives in
one process); with N processes the bound is N times the setting, which still caps it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from seecodes.errors import TooManyStreams

RETRY_AFTER_SECONDS = 5


class StreamGate:
    def __init__(self, *, per_permit: int, per_installation: int) -> None:
        self._per_permit = per_permit
        self._per_installation = per_installation
        self._permits: Counter[str] = Counter()
        self._installations: Counter[str] = Counter()

    def open(self, *, permit_jti: str, installation_id: str) -> StreamSlot:
        """Take a slot now (refusing beyond the bounds); the stream gives it back when it ends."""
        if (
            self._permits[permit_jti] >= self._per_permit
            or self._installations[installation_id] >= self._per_installation
        ):
            raise TooManyStreams(headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        self._permits[permit_jti] += 1
        self._installations[installation_id] += 1
        return StreamSlot(self, permit_jti, installation_id)

    def _release(self, permit_jti: str, installation_id: str) -> None:
        for counter, key in ((self._permits, permit_jti), (self._installations, installation_id)):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]


class StreamSlot:
    def __init__(self, gate: StreamGate, permit_jti: str, installation_id: str) -> None:
        self._gate = gate
        self._key = (permit_jti, installation_id)
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._gate._release(*self._key)

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            self.release()
