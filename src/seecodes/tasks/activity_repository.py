"""Queries on activity snapshots. Every one is scoped by `_task_scope`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.kit.sql import dialect_insert
from seecodes.models import ActivitySnapshot

DEDUPE_KEY = (
    "installation_id",
    "project_id",
    "task_id",
    "user_account_id",
    "window_started_at",
    "window_ended_at",
)


def _task_scope(installation_id: str, project_id: str, task_id: str) -> list[ColumnElement[bool]]:
    return [
        ActivitySnapshot.installation_id == installation_id,
        ActivitySnapshot.project_id == project_id,
        ActivitySnapshot.task_id == task_id,
    ]


async def insert_unless_stored(session: AsyncSession, values: dict[str, Any]) -> bool:
    """One statement, so two identical snapshots racing still store one row."""
    inserted = await session.execute(
        dialect_insert(session, ActivitySnapshot)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(DEDUPE_KEY))
        .returning(ActivitySnapshot.id)
    )
    return inserted.scalar_one_or_none() is not None


async def find_window(
    session: AsyncSession,
    *,
    installation_id: str,
    project_id: str,
    task_id: str,
    user_account_id: str,
    window_started_at: datetime,
    window_ended_at: datetime,
) -> ActivitySnapshot | None:
    return (
        await session.execute(
            select(ActivitySnapshot).where(
                *_task_scope(installation_id, project_id, task_id),
                ActivitySnapshot.user_account_id == user_account_id,
                ActivitySnapshot.window_started_at == window_started_at,
                ActivitySnapshot.window_ended_at == window_ended_at,
            )
        )
    ).scalar_one_or_none()
