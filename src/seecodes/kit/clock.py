"""Time in one place, so tests can pin it."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """Wall clock in epoch seconds. Tests replace `now` with a fixed value."""

    def now(self) -> float:
        return time.time()

    def now_int(self) -> int:
        return int(self.now())

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)


def iso_utc(value: datetime) -> str:
    """ISO 8601 with a Z suffix, the format the contract's `updatedAt` examples use."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every stored time is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def to_epoch(value: datetime) -> int:
    return int(as_utc(value).timestamp())
