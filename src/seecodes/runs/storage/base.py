"""What the run engine needs from object storage, whichever backend holds the bytes."""

from __future__ import annotations

from typing import Protocol


class ObjectStorage(Protocol):
    """Keys are `/`-separated paths inside one bucket; URLs are signed and expire."""

    @property
    def bucket(self) -> str: ...

    async def ensure_bucket(self) -> None:
        """Create the bucket (or directory) when missing; called once when the process starts."""
        ...

    async def upload_url(self, key: str, *, expires_in: int) -> str:
        """A URL the client PUTs the object's bytes to."""
        ...

    async def download_url(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        """A URL the client GETs the object from; `filename` sets Content-Disposition."""
        ...

    async def size(self, key: str) -> int | None:
        """The stored object's size in bytes, or None when nothing is stored under the key."""
        ...

    async def read(self, key: str) -> bytes: ...

    async def write(self, key: str, data: bytes, *, content_type: str) -> None: ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix` (which ends with `/`); returns how many."""
        ...

    async def close(self) -> None: ...
