"""Queries on reported installation metrics, scoped to one installation."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.models import InstanceMetric


async def add(session: AsyncSession, metric: InstanceMetric) -> None:
    session.add(metric)
    await session.flush()


async def history(session: AsyncSession, installation_id: str, *, limit: int) -> list[InstanceMetric]:
    """Newest first."""
    return list(
        (
            await session.execute(
                select(InstanceMetric)
                .where(InstanceMetric.installation_id == installation_id)
                .order_by(InstanceMetric.id.desc())
                .limit(limit)
            )
        ).scalars()
    )
