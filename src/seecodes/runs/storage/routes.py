"""The local backend's signed storage URLs, served by the API itself (S3 serves its own).

Mounted only when `storage_backend` is `local`. The signature is the only credential: these routes
take no bearer token, because the IDE and the browser fetch them as plain URLs, as they would S3's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse

from seecodes.deps import RuntimeDep
from seecodes.errors import (
    InvalidObjectKey,
    NotFound,
    ObjectNotFound,
    RunInputsFrozen,
    StorageUrlExpired,
    StorageUrlRejected,
    UploadTooLarge,
    responses,
)
from seecodes.openapi import STORAGE
from seecodes.runs.service import check_upload_open
from seecodes.runs.storage.local import STORAGE_ROUTE_PREFIX, LocalStorage
from seecodes.runs.storage.schemas import StoredObject

router = APIRouter(tags=[STORAGE])

_OBJECT_PATH = STORAGE_ROUTE_PREFIX + "{bucket}/{key:path}"
# Uploaded files are served from the API's own origin: never let a browser render one as a page.
_DOWNLOAD_HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Referrer-Policy": "no-referrer",
}


async def _local_storage(runtime: RuntimeDep) -> LocalStorage:
    if not isinstance(runtime.storage, LocalStorage):
        raise ObjectNotFound()  # app.py mounts this router only for the local backend
    return runtime.storage


LocalStorageDep = Annotated[LocalStorage, Depends(_local_storage)]
BucketPath = Annotated[str, Path(description="The storage bucket the URL was signed for.")]
KeyPath = Annotated[str, Path(description="The object key, `/`-separated.")]
Expires = Annotated[str | None, Query(description="Epoch seconds after which the URL is refused.")]
Signature = Annotated[str | None, Query(description="HMAC over method, bucket, key, expiry (and filename).")]


@router.put(
    _OBJECT_PATH,
    operation_id="uploadObject",
    description=(
        "The target of the upload URLs `initRun` answers (local storage only). PUT the file's "
        "bytes to the URL exactly as given: `expires` and `signature` are part of it, and a URL "
        "is refused once its run has started or its expiry has passed (ask `initRun` again)."
    ),
    summary="Upload an object through a signed URL",
    # 404: a key with a line break never matches `{key:path}` (no such URL can have been signed).
    responses=responses(
        StorageUrlRejected, StorageUrlExpired, UploadTooLarge, InvalidObjectKey, RunInputsFrozen, NotFound
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_object(
    request: Request,
    runtime: RuntimeDep,
    storage: LocalStorageDep,
    bucket: BucketPath,
    key: KeyPath,
    expires: Expires = None,
    signature: Signature = None,
) -> StoredObject:
    storage.authorize("PUT", bucket=bucket, key=key, expires=expires, signature=signature)
    await check_upload_open(runtime.db, key)
    size = await storage.receive(key, request.stream(), declared_size=_declared_size(request))
    return StoredObject(key=key, size=size)


@router.get(
    _OBJECT_PATH,
    operation_id="downloadObject",
    description=(
        "The target of the download URLs the server hands out (local storage only). GET the URL "
        "exactly as given; it expires like an upload URL."
    ),
    summary="Download an object through a signed URL",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The object's bytes, as an attachment.",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        },
        **responses(StorageUrlRejected, StorageUrlExpired, ObjectNotFound, InvalidObjectKey),
    },
)
async def download_object(
    storage: LocalStorageDep,
    bucket: BucketPath,
    key: KeyPath,
    expires: Expires = None,
    signature: Signature = None,
    filename: Annotated[str | None, Query(description="The name the file is saved as.")] = None,
) -> FileResponse:
    storage.authorize("GET", bucket=bucket, key=key, expires=expires, signature=signature, filename=filename)
    stored = await storage.stored_file(key, filename=filename)
    return FileResponse(
        stored.path,
        media_type=stored.media_type,
        filename=stored.filename,
        headers=_DOWNLOAD_HEADERS,
    )


def _declared_size(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isascii() and value.isdigit() else None
