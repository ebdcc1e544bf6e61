"""The embedded backend: objects are files under the storage directory, and the API itself serves
the signed, expiring URLs (routes.py) that S3 would otherwise serve.

Layout: `<storage_dir>/<bucket>/<key>` for objects, `<storage_dir>/.partial/` for bytes still
arriving. A bucket name cannot start with a dot, so the two never meet, and both sit on one file
system, so publishing an object is one atomic rename: a reader sees the old file or the whole new
one, never a half-written upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import os
import stat
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import anyio

from seecodes.errors import InvalidObjectKey, ObjectNotFound, StorageUrlRejected, UploadTooLarge
from seecodes.runs.storage.keys import check_bucket_name, check_key, check_prefix
from seecodes.runs.storage.signing import Method, SignedRequest, StorageUrlSigner

STORAGE_ROUTE_PREFIX = "/v1/storage/"
PARTIAL_DIR = ".partial"
# Python's built-in table only, never the host's /etc/mime.types: a download's Content-Type must not
# depend on which packages the server happens to have installed.
_MEDIA_TYPES = mimetypes.MimeTypes(filenames=())
_MEDIA_TYPES.add_type("text/markdown", ".md")
_MEDIA_TYPES.add_type("text/markdown", ".markdown")


@dataclass(frozen=True, slots=True)
class StoredFile:
    """What a download serves: the file, its media type and the name the browser saves it as."""

    path: Path
    size: int
    media_type: str
    filename: str


class LocalStorage:
    def __init__(
        self,
        root: Path,
        *,
        bucket: str,
        public_base_url: str,
        signer: StorageUrlSigner,
        upload_max_bytes: int,
    ) -> None:
        self._bucket = check_bucket_name(bucket)
        # Resolved once: every object path is checked against this, after symlinks are followed.
        self._objects = (root / bucket).resolve()
        self._partial = (root / PARTIAL_DIR).resolve()
        self._base_url = public_base_url.rstrip("/")
        self._signer = signer
        self.upload_max_bytes = upload_max_bytes

    @property
    def bucket(self) -> str:
        return self._bucket

    async def ensure_bucket(self) -> None:
        await asyncio.to_thread(self._make_directories)

    # -- URLs ------------------------------------------------------------------------------------
    async def upload_url(self, key: str, *, expires_in: int) -> str:
        return self._signed_url("PUT", check_key(key), expires_in, filename=None)

    async def download_url(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        return self._signed_url("GET", check_key(key), expires_in, filename=filename)

    def _signed_url(self, method: Method, key: str, expires_in: int, *, filename: str | None) -> str:
        expires = self._signer.expiry(expires_in)
        signature = self._signer.sign(SignedRequest(method, self._bucket, key, expires, filename))
        query: dict[str, str | int] = {"expires": expires}
        if filename is not None:
            query["filename"] = filename
        query["signature"] = signature
        path = quote(f"{STORAGE_ROUTE_PREFIX}{self._bucket}/{key}", safe="/")
        return f"{self._base_url}{path}?{urlencode(query)}"

    def authorize(
        self,
        method: Method,
        *,
        bucket: str,
        key: str,
        expires: str | None,
        signature: str | None,
        filename: str | None = None,
    ) -> None:
        """Refuse a request that a URL we signed does not allow, exactly as presented."""
        self._signer.verify(
            method=method, bucket=bucket, key=key, expires=expires, signature=signature, filename=filename
        )
        if bucket != self._bucket:
            # Signed by us for another bucket: the storage configuration changed since.
            raise StorageUrlRejected()

    # -- objects ---------------------------------------------------------------------------------
    async def size(self, key: str) -> int | None:
        path = await self._path_of(key)
        return await asyncio.to_thread(_file_size, path)

    async def read(self, key: str) -> bytes:
        path = await self._path_of(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
            raise ObjectNotFound() from error

    async def write(self, key: str, data: bytes, *, content_type: str) -> None:
        # The content type is not stored: downloads derive it from the file name (see decisions).
        target = await self._path_of(key)
        partial = self._new_partial_path()
        try:
            await asyncio.to_thread(_write_file, partial, data)
            await asyncio.to_thread(_publish, partial, target)
        finally:
            await asyncio.to_thread(partial.unlink, missing_ok=True)

    async def receive(self, key: str, chunks: AsyncIterable[bytes], *, declared_size: int | None) -> int:
        """Stream an upload to disk, refusing it once it passes the per-file limit; returns its size."""
        if declared_size is not None and declared_size > self.upload_max_bytes:
            raise self._too_large()
        target = await self._path_of(key)
        partial = self._new_partial_path()
        received = 0
        try:
            await asyncio.to_thread(self._make_directories)
            async with await anyio.open_file(partial, "wb") as file:
                async for chunk in chunks:
                    received += len(chunk)
                    if received > self.upload_max_bytes:
                        raise self._too_large()
                    await file.write(chunk)
            await asyncio.to_thread(_publish, partial, target)
        finally:
            await asyncio.to_thread(partial.unlink, missing_ok=True)
        return received

    async def stored_file(self, key: str, *, filename: str | None) -> StoredFile:
        path = await self._path_of(key)
        size = await asyncio.to_thread(_file_size, path)
        if size is None:
            raise ObjectNotFound()
        name = filename or path.name
        media_type = _MEDIA_TYPES.guess_type(name)[0] or "application/octet-stream"
        return StoredFile(path=path, size=size, media_type=media_type, filename=name)

    async def delete_prefix(self, prefix: str) -> int:
        directory = await self._path_of(check_prefix(prefix)[:-1])
        return await asyncio.to_thread(_delete_tree, directory)

    async def close(self) -> None:
        return None

    # -- paths -----------------------------------------------------------------------------------
    async def _path_of(self, key: str) -> Path:
        check_key(key)
        # Resolving reads symlinks from the disk: off the event loop like any other file access.
        return await asyncio.to_thread(self._object_path, key)

    def _object_path(self, key: str) -> Path:
        """The key's file, proven inside the bucket directory after `..` and symlinks resolve."""
        path = (self._objects / key).resolve()
        if not path.is_relative_to(self._objects) or path == self._objects:
            raise InvalidObjectKey()
        return path

    def _new_partial_path(self) -> Path:
        return self._partial / uuid.uuid4().hex

    def _make_directories(self) -> None:
        self._objects.mkdir(parents=True, exist_ok=True)
        self._partial.mkdir(parents=True, exist_ok=True)

    def _too_large(self) -> UploadTooLarge:
        return UploadTooLarge(
            f"The file is larger than the per-file upload limit of {self.upload_max_bytes} bytes."
        )


def _file_size(path: Path) -> int | None:
    try:
        status = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _publish(partial: Path, target: Path) -> None:
    # fsync before the rename: after a power cut the key names the whole file or nothing.
    with partial.open("rb") as file:
        os.fsync(file.fileno())
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, target)
    except (FileExistsError, NotADirectoryError, IsADirectoryError) as error:
        # A file system cannot hold both `a` and `a/b`; S3 can. Our key layout never needs both.
        raise InvalidObjectKey("The key collides with the path of another stored object.") from error


def _delete_tree(directory: Path) -> int:
    if not directory.is_dir():
        return 0
    deleted = 0
    for parent, dirnames, filenames in os.walk(directory, topdown=False):
        for name in filenames:
            Path(parent, name).unlink(missing_ok=True)
            deleted += 1
        for name in dirnames:
            _remove_empty_directory(Path(parent, name))
    _remove_empty_directory(directory)
    return deleted


def _remove_empty_directory(path: Path) -> None:
    # Not empty: a write landed under it meanwhile, and that object was not part of this delete.
    with contextlib.suppress(OSError):
        path.rmdir()
