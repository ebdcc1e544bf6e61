"""Object keys both backends accept: the same rules, so a run's layout never depends on the backend.

The local backend maps keys to files, so a key that could name a path outside its bucket
directory (`..`, an absolute path, a backslash on a Windows host, NUL) is refused everywhere, on S3
too, where it would be merely confusing.
"""

from __future__ import annotations

import re

from seecodes.errors import InvalidObjectKey

# S3's limit is 1024 bytes of UTF-8; staying under it keeps every key valid on any backend.
MAX_KEY_BYTES = 1024
# S3 bucket naming (lowercase, digits, dots, hyphens), which also keeps a bucket a plain directory name.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def check_bucket_name(bucket: str) -> str:
    if not _BUCKET_NAME.match(bucket) or ".." in bucket:
        raise ValueError(f"storage bucket {bucket!r} is not a valid S3 bucket name")
    return bucket


def check_key(key: str) -> str:
    """A `/`-separated relative path of non-empty segments, none of them `.` or `..`."""
    _check_segments(key, key.split("/"))
    return key


def check_prefix(prefix: str) -> str:
    """A key prefix that names a whole "directory": it ends with `/`."""
    if not prefix.endswith("/"):
        raise InvalidObjectKey("A storage prefix must end with '/'.")
    _check_segments(prefix, prefix[:-1].split("/"))
    return prefix


def _check_segments(value: str, segments: list[str]) -> None:
    if not value or len(value.encode()) > MAX_KEY_BYTES:
        raise InvalidObjectKey(f"A storage key must be 1–{MAX_KEY_BYTES} bytes long.")
    if "\\" in value or _CONTROL_CHARACTERS.search(value):
        raise InvalidObjectKey("A storage key may not contain backslashes or control characters.")
    if any(segment in ("", ".", "..") for segment in segments):
        raise InvalidObjectKey("A storage key is a relative path without empty, '.' or '..' segments.")
