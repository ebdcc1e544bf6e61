"""Queries on activity snapshots and their daily sums. Snapshot reads are scoped by `_task_scope`;
the daily sums are written per snapshot and rebuilt per installation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Date, Integer, cast, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.kit.sql import Statement, dialect_of, insert_for
from seecodes.models import ActivityDaily, ActivitySnapshot

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


# Both statements run for every snapshot the IDE sends: built once per dialect (kit.sql.Statement).
_INSERT_UNLESS_STORED = Statement(
    lambda dialect: (
        insert_for(dialect, ActivitySnapshot)
        .on_conflict_do_nothing(index_elements=list(DEDUPE_KEY))
        .returning(ActivitySnapshot.id)
    )
)


async def insert_unless_stored(session: AsyncSession, values: dict[str, Any]) -> bool:
    """One statement, so two identical snapshots racing still store one row."""
    inserted = await _INSERT_UNLESS_STORED.execute(session, **values)
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


DAILY_KEY = ("installation_id", "project_id", "task_id", "user_account_id", "day")
_SUMMED = (
    "snapshots",
    "effort_units",
    "human_active_ms",
    "loc_changed",
    "files_changed",
    "architecture_changes",
    "logic_changes",
    "specification_ui_changes",
)


def _add_to_daily(dialect: str) -> Any:
    upsert = insert_for(dialect, ActivityDaily)
    table = ActivityDaily.__table__.c
    # SQLite's two-argument min()/max() are its LEAST/GREATEST.
    least, greatest = (func.least, func.greatest) if dialect == "postgresql" else (func.min, func.max)
    changes = {name: table[name] + upsert.excluded[name] for name in _SUMMED}
    changes["first_started_at"] = least(table.first_started_at, upsert.excluded.first_started_at)
    changes["last_ended_at"] = greatest(table.last_ended_at, upsert.excluded.last_ended_at)
    return upsert.on_conflict_do_update(index_elements=list(DAILY_KEY), set_=changes)


_ADD_TO_DAILY = Statement(_add_to_daily)


async def add_to_daily(session: AsyncSession, snapshot: dict[str, Any]) -> None:
    """Add one newly stored snapshot to its day's sums: one atomic upsert, so concurrent snapshots
    of the same task, user and day all count."""
    await _ADD_TO_DAILY.execute(
        session,
        installation_id=snapshot["installation_id"],
        project_id=snapshot["project_id"],
        task_id=snapshot["task_id"],
        user_account_id=snapshot["user_account_id"],
        day=snapshot["window_ended_at"].astimezone(UTC).date(),
        snapshots=1,
        effort_units=snapshot["effort_units"],
        human_active_ms=snapshot["human_active_ms"],
        loc_changed=snapshot["loc_total"],
        files_changed=snapshot["changed_files_count"],
        architecture_changes=int(snapshot["architecture_change"]),
        logic_changes=int(snapshot["logic_change"]),
        specification_ui_changes=int(snapshot["specification_ui_change"]),
        first_started_at=snapshot["window_started_at"],
        last_ended_at=snapshot["window_ended_at"],
    )


def _day_of(session: AsyncSession, moment: Any) -> ColumnElement[Any]:
    if dialect_of(session) == "postgresql":
        return cast(func.timezone("UTC", moment), Date)
    return func.date(moment)  # SQLite keeps UTC times as text; date() takes the day part


async def rebuild_daily(session: AsyncSession, installation_id: str) -> None:
    """Recompute an installation's daily sums from its snapshots (bulk loads, repairs, checks)."""
    s = ActivitySnapshot
    day = _day_of(session, s.window_ended_at)
    await session.execute(delete(ActivityDaily).where(ActivityDaily.installation_id == installation_id))
    grouped = (
        select(
            s.installation_id,
            s.project_id,
            s.task_id,
            s.user_account_id,
            day,
            func.count(),
            func.sum(s.effort_units),
            func.sum(s.human_active_ms),
            func.sum(s.loc_total),
            func.sum(s.changed_files_count),
            func.sum(cast(s.architecture_change, Integer)),
            func.sum(cast(s.logic_change, Integer)),
            func.sum(cast(s.specification_ui_change, Integer)),
            func.min(s.window_started_at),
            func.max(s.window_ended_at),
        )
        .where(s.installation_id == installation_id)
        .group_by(s.installation_id, s.project_id, s.task_id, s.user_account_id, day)
    )
    columns = [*DAILY_KEY, *_SUMMED, "first_started_at", "last_ended_at"]
    await session.execute(insert(ActivityDaily).from_select(columns, grouped))
