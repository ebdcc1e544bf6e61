"""Queries on telemetry events. Every one is scoped to one installation."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.kit.sql import dialect_insert
from seecodes.models import TelemetryEvent


async def insert_new(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Insert the events whose requestId this installation has not seen; return those requestIds.

    One statement: the unique (installation, requestId) index decides, so two processes racing
    with the same event store it once.
    """
    if not rows:
        return set()
    assert len({row["installation_id"] for row in rows}) == 1, "one installation per batch"
    inserted = await session.execute(
        dialect_insert(session, TelemetryEvent)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["installation_id", "request_id"])
        .returning(TelemetryEvent.request_id)
    )
    return set(inserted.scalars())
