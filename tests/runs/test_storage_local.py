"""The local storage backend: signed, expiring URLs served by the API itself, files kept in a directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from seecodes.app import create_app
from seecodes.config import Settings, StorageBackend
from seecodes.errors import InvalidObjectKey, ObjectNotFound, StorageUrlRejected, UploadTooLarge
from seecodes.runs.storage import LocalStorage, build_storage
from seecodes.runs.storage.signing import SignedRequest, StorageUrlSigner
from tests.support.app import TEST_SECRET, runtime_of
from tests.support.clock import FixedClock

UPLOAD_LIMIT = 4096
KEY = "runs/run-1/uploads/list.md"
PUBLIC_BASE = "https://seecodes.example.com"
NEW_SECRET = "rotated-secret-key-0123456789abcdef0123456789"
TRAVERSAL_KEYS = [
    "../escape.md",
    "runs/../../escape.md",
    "/etc/passwd",
    "runs\\list.md",
    "runs/\x00.md",
    "runs//list.md",
    "./list.md",
    "runs/..",
    "",
]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Storage does not touch the database: one run on SQLite is enough."""
    return sqlite_url


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    # An API body limit below the upload limit: uploads must get their own.
    return {"storage_dir": tmp_path / "storage", "upload_max_bytes": UPLOAD_LIMIT, "max_body_bytes": 1024}


@pytest.fixture
def storage(app: FastAPI) -> LocalStorage:
    backend = runtime_of(app).storage
    assert isinstance(backend, LocalStorage)
    return backend


def path_of(url: str) -> str:
    """The signed URL as the ASGI client calls it: same path and query, without the public host."""
    assert url.startswith(PUBLIC_BASE + "/")
    return url.removeprefix(PUBLIC_BASE)


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return f"{parts.path}?{urlencode(query)}"


def assert_refused(response: httpx.Response, code: str = "storage_url_invalid") -> None:
    assert response.status_code == 403
    assert response.json() == {"ok": False, "error": code, "detail": response.json()["detail"]}


# -- round trip --------------------------------------------------------------------------------
async def test_upload_then_download_through_signed_urls(
    client: httpx.AsyncClient, storage: LocalStorage
) -> None:
    upload = await storage.upload_url(KEY, expires_in=60)
    download = await storage.download_url(KEY, expires_in=60, filename="context list.md")

    put = await client.put(path_of(upload), content=b"# Tasks\n- one\n")
    got = await client.get(path_of(download))

    assert put.status_code == 200
    assert put.json() == {"ok": True, "key": KEY, "size": 14}
    assert got.status_code == 200
    assert got.content == b"# Tasks\n- one\n"
    assert got.headers["content-type"].startswith("text/markdown")
    assert got.headers["content-disposition"] == "attachment; filename*=utf-8''context%20list.md"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]


async def test_url_shape_names_bucket_key_and_expiry(storage: LocalStorage, clock: FixedClock) -> None:
    url = await storage.upload_url(KEY, expires_in=60)

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_BASE
    assert parts.path == f"/v1/storage/{storage.bucket}/{KEY}"
    assert int(query["expires"]) == int(clock.now()) + 60
    assert len(query["signature"]) == 43  # HMAC-SHA256, base64url without padding


async def test_download_defaults_to_the_key_basename_as_attachment(
    client: httpx.AsyncClient, storage: LocalStorage
) -> None:
    await storage.write("runs/run-1/output/result.zip", b"PK\x03\x04", content_type="application/zip")
    download = await storage.download_url("runs/run-1/output/result.zip", expires_in=60)

    got = await client.get(path_of(download))

    assert got.status_code == 200
    assert got.headers["content-type"] == "application/zip"
    assert got.headers["content-disposition"] == 'attachment; filename="result.zip"'


async def test_upload_larger_than_api_body_limit_is_accepted(
    client: httpx.AsyncClient, storage: LocalStorage
) -> None:
    upload = await storage.upload_url(KEY, expires_in=60)

    put = await client.put(path_of(upload), content=b"x" * UPLOAD_LIMIT)

    assert put.status_code == 200
    assert await storage.size(KEY) == UPLOAD_LIMIT


async def test_upload_replaces_the_previous_object(client: httpx.AsyncClient, storage: LocalStorage) -> None:
    upload = await storage.upload_url(KEY, expires_in=60)
    await client.put(path_of(upload), content=b"first version")

    await client.put(path_of(upload), content=b"second")

    assert await storage.read(KEY) == b"second"


async def test_download_of_missing_object_is_404(client: httpx.AsyncClient, storage: LocalStorage) -> None:
    download = await storage.download_url("runs/run-1/output/absent.txt", expires_in=60)

    got = await client.get(path_of(download))

    assert got.status_code == 404
    assert got.json()["error"] == "object_not_found"


# -- tampering and expiry ------------------------------------------------------------------------
async def test_tampered_signature_is_refused(client: httpx.AsyncClient, storage: LocalStorage) -> None:
    await storage.write(KEY, b"secret plan", content_type="text/markdown")
    download = await storage.download_url(KEY, expires_in=60)
    signature = dict(parse_qsl(urlsplit(download).query))["signature"]
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]

    got = await client.get(with_query(download, signature=flipped))

    assert_refused(got)


async def test_tampered_key_is_refused(client: httpx.AsyncClient, storage: LocalStorage) -> None:
    await storage.write("runs/run-2/uploads/list.md", b"another run", content_type="text/markdown")
    download = await storage.download_url(KEY, expires_in=60)

    got = await client.get(path_of(download).replace("run-1", "run-2"))

    assert_refused(got)


async def test_tampered_expiry_is_refused(client: httpx.AsyncClient, storage: LocalStorage) -> None:
    upload = await storage.upload_url(KEY, expires_in=60)
    expires = int(dict(parse_qsl(urlsplit(upload).query))["expires"])

    put = await client.put(with_query(upload, expires=str(expires + 3600)), content=b"data")

    assert_refused(put)
    assert await storage.size(KEY) is None


async def test_tampered_filename_is_refused(client: httpx.AsyncClient, storage: LocalStorage) -> None:
    await storage.write(KEY, b"data", content_type="text/markdown")
    download = await storage.download_url(KEY, expires_in=60, filename="list.md")

    got = await client.get(with_query(download, filename="list.html"))

    assert_refused(got)


async def test_download_url_cannot_upload(client: httpx.AsyncClient, storage: LocalStorage) -> None:
    download = await storage.download_url(KEY, expires_in=60)

    put = await client.put(path_of(download), content=b"overwrite")

    assert_refused(put)
    assert await storage.size(KEY) is None


async def test_upload_url_cannot_download(client: httpx.AsyncClient, storage: LocalStorage) -> None:
    await storage.write(KEY, b"data", content_type="text/markdown")
    upload = await storage.upload_url(KEY, expires_in=60)

    got = await client.get(path_of(upload))

    assert_refused(got)


@pytest.mark.parametrize(
    "query", ["", "?expires=99999999999", "?signature=abc", "?expires=%C2%B2&signature=abc"]
)
async def test_unsigned_or_malformed_url_is_refused(
    client: httpx.AsyncClient, storage: LocalStorage, query: str
) -> None:
    got = await client.get(f"/v1/storage/{storage.bucket}/{KEY}{query}")

    assert_refused(got)


async def test_url_works_until_expiry_and_not_after(
    client: httpx.AsyncClient, storage: LocalStorage, clock: FixedClock
) -> None:
    await storage.write(KEY, b"data", content_type="text/markdown")
    download = await storage.download_url(KEY, expires_in=60)

    clock.advance(59)
    before = await client.get(path_of(download))
    clock.advance(1)
    after = await client.get(path_of(download))

    assert before.status_code == 200
    assert_refused(after, "storage_url_expired")


async def test_expired_upload_url_stores_nothing(
    client: httpx.AsyncClient, storage: LocalStorage, clock: FixedClock
) -> None:
    upload = await storage.upload_url(KEY, expires_in=60)
    clock.advance(3600)

    put = await client.put(path_of(upload), content=b"late")

    assert_refused(put, "storage_url_expired")
    assert await storage.size(KEY) is None


async def test_url_signed_before_secret_rotation_still_verifies(
    settings: Settings, clock: FixedClock, storage: LocalStorage
) -> None:
    upload = await storage.upload_url(KEY, expires_in=60)
    rotated = settings.model_copy(
        update={
            "secret_key": SecretStr(NEW_SECRET),
            "previous_secret_keys": [SecretStr(TEST_SECRET)],
        }
    )
    rotated_app = create_app(rotated, clock=clock)
    try:
        async with _client(rotated_app) as rotated_client:
            put = await rotated_client.put(path_of(upload), content=b"uploaded across a rotation")
    finally:
        await runtime_of(rotated_app).close()

    assert put.status_code == 200
    assert await storage.read(KEY) == b"uploaded across a rotation"


async def test_url_signed_with_a_retired_secret_is_refused(
    settings: Settings, clock: FixedClock, storage: LocalStorage
) -> None:
    upload = await storage.upload_url(KEY, expires_in=60)
    retired = settings.model_copy(update={"secret_key": SecretStr(NEW_SECRET), "previous_secret_keys": []})
    other = build_storage(retired, clock)
    assert isinstance(other, LocalStorage)
    query = dict(parse_qsl(urlsplit(upload).query))

    with pytest.raises(StorageUrlRejected):
        other.authorize(
            "PUT", bucket=storage.bucket, key=KEY, expires=query["expires"], signature=query["signature"]
        )


# -- size limit --------------------------------------------------------------------------------
async def test_declared_upload_over_the_limit_is_413(
    client: httpx.AsyncClient, storage: LocalStorage
) -> None:
    upload = await storage.upload_url(KEY, expires_in=60)

    put = await client.put(path_of(upload), content=b"x" * (UPLOAD_LIMIT + 1))

    assert put.status_code == 413
    assert put.json()["error"] == "payload_too_large"
    assert await storage.size(KEY) is None


async def test_streamed_upload_over_the_limit_is_413_and_leaves_nothing(
    client: httpx.AsyncClient, storage: LocalStorage, tmp_path: Path
) -> None:
    upload = await storage.upload_url(KEY, expires_in=60)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000  # no Content-Length: sent chunked, counted as it arrives

    put = await client.put(path_of(upload), content=chunks())

    assert put.status_code == 413
    assert put.json()["error"] == "payload_too_large"
    assert await storage.size(KEY) is None
    assert list((tmp_path / "storage" / ".partial").iterdir()) == []


async def test_storage_enforces_the_limit_without_the_middleware(
    storage: LocalStorage, tmp_path: Path
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"x" * UPLOAD_LIMIT
        yield b"x"

    with pytest.raises(UploadTooLarge):
        await storage.receive(KEY, chunks(), declared_size=None)

    assert await storage.size(KEY) is None
    assert list((tmp_path / "storage" / ".partial").iterdir()) == []


# -- keys --------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", TRAVERSAL_KEYS)
async def test_keys_that_could_escape_the_bucket_are_refused(storage: LocalStorage, key: str) -> None:
    with pytest.raises(InvalidObjectKey):
        await storage.upload_url(key, expires_in=60)
    with pytest.raises(InvalidObjectKey):
        await storage.write(key, b"x", content_type="text/plain")
    with pytest.raises(InvalidObjectKey):
        await storage.size(key)


async def test_signed_traversal_key_is_still_refused(
    client: httpx.AsyncClient, storage: LocalStorage, settings: Settings, clock: FixedClock, tmp_path: Path
) -> None:
    # Even a URL carrying a valid signature (which we never issue for such a key) cannot leave the bucket.
    await storage.ensure_bucket()
    (tmp_path / "storage" / "outside.txt").write_bytes(b"not yours")
    key = "../outside.txt"
    expires = int(clock.now()) + 60
    signature = StorageUrlSigner(settings.signing_secrets(), clock).sign(
        SignedRequest("GET", storage.bucket, key, expires)
    )

    got = await client.get(
        f"/v1/storage/{storage.bucket}/..%2Foutside.txt?expires={expires}&signature={signature}"
    )

    assert got.status_code == 422
    assert got.json()["error"] == "invalid_object_key"


async def test_symlink_out_of_the_bucket_is_refused(storage: LocalStorage, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not yours")
    await storage.ensure_bucket()
    (tmp_path / "storage" / storage.bucket / "link.txt").symlink_to(secret)

    with pytest.raises(InvalidObjectKey):
        await storage.read("link.txt")


# -- object operations ---------------------------------------------------------------------------
async def test_size_of_absent_key_is_none(storage: LocalStorage) -> None:
    assert await storage.size("runs/nothing/here.md") is None


async def test_read_of_absent_key_is_not_found(storage: LocalStorage) -> None:
    with pytest.raises(ObjectNotFound):
        await storage.read("runs/nothing/here.md")


async def test_write_then_read_and_size(storage: LocalStorage) -> None:
    await storage.write("runs/run-1/output/output.txt", b"model says hi", content_type="text/plain")

    assert await storage.read("runs/run-1/output/output.txt") == b"model says hi"
    assert await storage.size("runs/run-1/output/output.txt") == 13


async def test_delete_prefix_removes_only_that_prefix(storage: LocalStorage) -> None:
    for key in ("runs/run-1/uploads/a.md", "runs/run-1/uploads/b.md", "runs/run-1/output/out.txt"):
        await storage.write(key, b"x", content_type="text/plain")
    await storage.write("runs/run-10/uploads/a.md", b"keep", content_type="text/plain")

    deleted = await storage.delete_prefix("runs/run-1/")

    assert deleted == 3
    assert await storage.size("runs/run-1/uploads/a.md") is None
    assert await storage.read("runs/run-10/uploads/a.md") == b"keep"
    assert await storage.delete_prefix("runs/run-1/") == 0


async def test_delete_prefix_requires_a_directory_prefix(storage: LocalStorage) -> None:
    with pytest.raises(InvalidObjectKey):
        await storage.delete_prefix("runs/run-1")


# -- wiring ------------------------------------------------------------------------------------
async def test_storage_routes_are_documented(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    operations = document["paths"]["/v1/storage/{bucket}/{key}"]
    assert {"403", "413"} <= set(operations["put"]["responses"])
    assert {"200", "403", "404"} <= set(operations["get"]["responses"])


async def test_storage_routes_are_absent_with_the_s3_backend(settings: Settings, clock: FixedClock) -> None:
    s3_settings = settings.model_copy(
        update={"storage_backend": StorageBackend.S3, "s3_endpoint_url": "http://127.0.0.1:9"}
    )
    s3_app = create_app(s3_settings, clock=clock)
    try:
        async with _client(s3_app) as s3_client:
            document = (await s3_client.get("/openapi.json")).json()
    finally:
        await runtime_of(s3_app).close()

    assert not any(path.startswith("/v1/storage/") for path in document["paths"])


def _client(application: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver")
