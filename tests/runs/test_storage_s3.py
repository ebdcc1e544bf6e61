"""The S3 backend against a real S3 server (SeaweedFS on loopback), which checks signatures and expiry."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlencode, urlsplit

import botocore.auth
import httpx
import pytest

from seecodes.errors import InvalidObjectKey, ObjectNotFound
from seecodes.runs.storage import S3Storage
from seecodes.runs.storage import s3 as s3_module
from tests.support.seaweed import ACCESS_KEY, REGION, SECRET_KEY, SeaweedS3

KEY = "runs/run-1/uploads/list.md"


@pytest.fixture
async def storage(seaweed: SeaweedS3) -> AsyncIterator[S3Storage]:
    """A fresh bucket per test, created the way a starting process creates it."""
    backend = S3Storage(
        bucket=f"seecodes-test-{uuid.uuid4().hex[:12]}",
        endpoint_url=seaweed.endpoint_url,
        region=REGION,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
    )
    await backend.ensure_bucket()
    yield backend
    await backend.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


# -- presigned URLs ------------------------------------------------------------------------------
async def test_presigned_upload_then_download(storage: S3Storage, http: httpx.AsyncClient) -> None:
    upload = await storage.upload_url(KEY, expires_in=60)
    download = await storage.download_url(KEY, expires_in=60, filename="context list.md")

    put = await http.put(upload, content=b"# Tasks\n- one\n")
    got = await http.get(download)

    assert put.status_code == 200
    assert got.status_code == 200
    assert got.content == b"# Tasks\n- one\n"
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"context list.md\"; filename*=UTF-8''context%20list.md"
    )
    assert await storage.size(KEY) == 14


async def test_presigned_url_is_path_style_on_the_configured_endpoint(
    storage: S3Storage, seaweed: SeaweedS3
) -> None:
    url = await storage.upload_url(KEY, expires_in=60)

    assert url.startswith(f"{seaweed.endpoint_url}/{storage.bucket}/{KEY}?")
    assert dict(parse_qsl(urlsplit(url).query))["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"


async def test_tampered_signature_is_refused_by_the_server(
    storage: S3Storage, http: httpx.AsyncClient
) -> None:
    await storage.write(KEY, b"secret plan", content_type="text/markdown")
    download = await storage.download_url(KEY, expires_in=60)
    signature = dict(parse_qsl(urlsplit(download).query))["X-Amz-Signature"]
    flipped = ("1" if signature[0] == "0" else "0") + signature[1:]

    got = await http.get(with_query(download, **{"X-Amz-Signature": flipped}))

    assert got.status_code == 403
    assert b"SignatureDoesNotMatch" in got.content


async def test_tampered_key_is_refused_by_the_server(storage: S3Storage, http: httpx.AsyncClient) -> None:
    await storage.write("runs/run-2/uploads/list.md", b"another run", content_type="text/markdown")
    download = await storage.download_url(KEY, expires_in=60)

    got = await http.get(download.replace("run-1", "run-2"))

    assert got.status_code == 403
    assert b"another run" not in got.content


async def test_download_url_cannot_upload(storage: S3Storage, http: httpx.AsyncClient) -> None:
    download = await storage.download_url(KEY, expires_in=60)

    put = await http.put(download, content=b"overwrite")

    assert put.status_code == 403
    assert await storage.size(KEY) is None


async def test_expired_presigned_url_is_refused_by_the_server(
    storage: S3Storage, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await storage.write(KEY, b"data", content_type="text/markdown")
    an_hour_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)
    # botocore stamps X-Amz-Date from this function: a URL signed an hour ago for 60 s.
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *_args, **_kwargs: an_hour_ago)
    download = await storage.download_url(KEY, expires_in=60)
    monkeypatch.undo()

    got = await http.get(download)

    assert dict(parse_qsl(urlsplit(download).query))["X-Amz-Date"] == an_hour_ago.strftime("%Y%m%dT%H%M%SZ")
    assert got.status_code == 403
    assert b"expired" in got.content


# -- object operations ---------------------------------------------------------------------------
async def test_write_read_and_size(storage: S3Storage) -> None:
    await storage.write("runs/run-1/output/output.txt", b"model says hi", content_type="text/plain")

    assert await storage.read("runs/run-1/output/output.txt") == b"model says hi"
    assert await storage.size("runs/run-1/output/output.txt") == 13


async def test_size_of_absent_key_is_none(storage: S3Storage) -> None:
    assert await storage.size("runs/nothing/here.md") is None


async def test_read_of_absent_key_is_not_found(storage: S3Storage) -> None:
    with pytest.raises(ObjectNotFound):
        await storage.read("runs/nothing/here.md")


async def test_delete_prefix_pages_through_every_object(
    storage: S3Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_module, "_PAGE_SIZE", 2)  # five objects: three list-and-delete rounds
    for index in range(5):
        await storage.write(f"runs/run-1/uploads/{index}.md", b"x", content_type="text/markdown")
    await storage.write("runs/run-10/uploads/a.md", b"keep", content_type="text/markdown")

    deleted = await storage.delete_prefix("runs/run-1/")

    assert deleted == 5
    assert await storage.size("runs/run-1/uploads/0.md") is None
    assert await storage.read("runs/run-10/uploads/a.md") == b"keep"
    assert await storage.delete_prefix("runs/run-1/") == 0


async def test_ensure_bucket_is_idempotent(storage: S3Storage) -> None:
    await storage.ensure_bucket()

    await storage.write(KEY, b"still here", content_type="text/markdown")
    assert await storage.read(KEY) == b"still here"


async def test_keys_that_would_escape_a_directory_are_refused(storage: S3Storage) -> None:
    with pytest.raises(InvalidObjectKey):
        await storage.upload_url("runs/../other/list.md", expires_in=60)
    with pytest.raises(InvalidObjectKey):
        await storage.write("/runs/list.md", b"x", content_type="text/plain")


async def test_wrong_credentials_are_refused(seaweed: SeaweedS3) -> None:
    impostor = S3Storage(
        bucket="seecodes-impostor",
        endpoint_url=seaweed.endpoint_url,
        region=REGION,
        access_key_id=ACCESS_KEY,
        secret_access_key="not-the-secret-0123456789",
    )
    async with httpx.AsyncClient(timeout=10) as http:
        put = await http.put(await impostor.upload_url(KEY, expires_in=60), content=b"x")
    await impostor.close()

    assert put.status_code == 403
