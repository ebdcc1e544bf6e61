"""Object storage for run uploads and artifacts: a local directory or any S3-compatible store."""

from __future__ import annotations

from seecodes.config import Settings, StorageBackend
from seecodes.kit.clock import Clock
from seecodes.runs.storage.base import ObjectStorage
from seecodes.runs.storage.local import LocalStorage
from seecodes.runs.storage.s3 import S3Storage
from seecodes.runs.storage.signing import StorageUrlSigner

__all__ = ["LocalStorage", "ObjectStorage", "S3Storage", "build_storage"]


def build_storage(settings: Settings, clock: Clock) -> ObjectStorage:
    if settings.storage_backend is StorageBackend.S3:
        secret = settings.s3_secret_access_key
        return S3Storage(
            bucket=settings.storage_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
        )
    return LocalStorage(
        settings.local_storage_dir,
        bucket=settings.storage_bucket,
        public_base_url=settings.public_base_url,
        signer=StorageUrlSigner(settings.signing_secrets(), clock),
        upload_max_bytes=settings.upload_max_bytes,
    )
