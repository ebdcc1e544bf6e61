"""Any S3-compatible store (AWS S3, MinIO, SeaweedFS, R2) through boto3, with real presigned URLs.

boto3 is synchronous, so every call, presigning included (it may resolve credentials), runs in a
worker thread. A presigned PUT cannot cap the body's size; the run engine checks `size()` of every
upload before a run starts (see docs/decisions.md, "Run storage").
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from seecodes.errors import ObjectNotFound
from seecodes.kit.logging import get_logger
from seecodes.runs.storage.keys import check_bucket_name, check_key, check_prefix

_log = get_logger("seecodes.storage")
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
# delete_objects takes at most 1000 keys, list_objects_v2 returns at most 1000: one page, one delete.
_PAGE_SIZE = 1000


class S3Storage:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
    ) -> None:
        self._bucket = check_bucket_name(bucket)
        self._region = region
        self._uses_aws = endpoint_url is None
        config = Config(
            signature_version="s3v4",
            # Self-hosted stores rarely have wildcard DNS for virtual-host buckets.
            s3={"addressing_style": "auto" if endpoint_url is None else "path"},
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=60,
        )
        # Without explicit keys boto3 falls back to its own chain (instance role, AWS_* variables).
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )

    @property
    def bucket(self) -> str:
        return self._bucket

    async def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist yet; a bucket we may not inspect is left alone."""
        try:
            await asyncio.to_thread(self._client.head_bucket, Bucket=self._bucket)
            return
        except ClientError as error:
            code = _error_code(error)
            if code in ("403", "AccessDenied"):
                # S3 answers a HEAD with a bare 403 both for a wrong secret and for a policy that
                # denies HeadBucket: say both, with what S3 said, since uploads will fail on the first.
                _log.warning(
                    "storage_bucket_not_inspectable",
                    bucket=self._bucket,
                    reason=f"{code}: {error.response.get('Error', {}).get('Message') or 'access denied'}",
                    hint="check SEECODES_S3_ACCESS_KEY_ID / SEECODES_S3_SECRET_ACCESS_KEY and the bucket policy",
                )
                return
            if code not in _MISSING:
                raise
        arguments: dict[str, Any] = {"Bucket": self._bucket}
        if self._uses_aws and self._region != "us-east-1":
            # AWS refuses an explicit us-east-1 constraint and requires one everywhere else.
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        try:
            await asyncio.to_thread(self._client.create_bucket, **arguments)
        except ClientError as error:
            if _error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        _log.info("storage_bucket_created", bucket=self._bucket)

    async def upload_url(self, key: str, *, expires_in: int) -> str:
        params = {"Bucket": self._bucket, "Key": check_key(key)}
        return await self._presign("put_object", params, expires_in)

    async def download_url(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        params = {"Bucket": self._bucket, "Key": check_key(key)}
        if filename is not None:
            params["ResponseContentDisposition"] = attachment_disposition(filename)
        return await self._presign("get_object", params, expires_in)

    async def _presign(self, operation: str, params: dict[str, str], expires_in: int) -> str:
        url: str = await asyncio.to_thread(
            self._client.generate_presigned_url, operation, Params=params, ExpiresIn=expires_in
        )
        return url

    async def size(self, key: str) -> int | None:
        try:
            head = await asyncio.to_thread(self._client.head_object, Bucket=self._bucket, Key=check_key(key))
        except ClientError as error:
            if _error_code(error) in _MISSING:
                return None
            raise
        return int(head["ContentLength"])

    async def read(self, key: str) -> bytes:
        return await asyncio.to_thread(self._read_sync, check_key(key))

    def _read_sync(self, key: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in _MISSING:
                raise ObjectNotFound() from error
            raise
        with response["Body"] as body:
            data: bytes = body.read()
        return data

    async def write(self, key: str, data: bytes, *, content_type: str) -> None:
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self._bucket,
            Key=check_key(key),
            Body=data,
            ContentType=content_type,
        )

    async def delete_prefix(self, prefix: str) -> int:
        return await asyncio.to_thread(self._delete_prefix_sync, check_prefix(prefix))

    def _delete_prefix_sync(self, prefix: str) -> int:
        deleted = 0
        # Each pass lists from the start: the keys it deletes are gone from the next listing, so
        # no continuation token is needed, and objects written meanwhile are caught too.
        while True:
            page = self._client.list_objects_v2(Bucket=self._bucket, Prefix=prefix, MaxKeys=_PAGE_SIZE)
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if not keys:
                return deleted
            result = self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})
            errors = result.get("Errors", [])
            if errors:
                # Stop instead of listing the same undeletable keys forever; the purge job retries.
                first = errors[0]
                raise RuntimeError(
                    f"S3 refused to delete {len(errors)} object(s) under {prefix!r}: "
                    f"{first.get('Code')} {first.get('Message')}"
                )
            deleted += len(keys)

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)


def attachment_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
