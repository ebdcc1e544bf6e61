"""Queries on project indexes. Every one is scoped by `_project_scope`; lookups use the path and
hash indexes, so a project with a million entries answers a batch in a few index probes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.kit.sql import dialect_insert
from seecodes.models import ProjectIndex, ProjectIndexEntry

# Stays well below SQLite's 32,766 bound parameters per statement.
CHUNK = 5000
ENTRY_COLUMNS = (
    ProjectIndexEntry.path,
    ProjectIndexEntry.hash,
    ProjectIndexEntry.updated_at_ms,
    ProjectIndexEntry.short,
    ProjectIndexEntry.detailed,
    ProjectIndexEntry.important_symbols,
    ProjectIndexEntry.dependencies,
    ProjectIndexEntry.exports,
)
_UPDATED_ON_CONFLICT = (
    "hash",
    "updated_at_ms",
    "short",
    "detailed",
    "important_symbols",
    "dependencies",
    "exports",
    "stored_at",
)


def _project_scope(installation_id: str, project_id: str) -> list[ColumnElement[bool]]:
    return [ProjectIndexEntry.installation_id == installation_id, ProjectIndexEntry.project_id == project_id]


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


async def project_state(session: AsyncSession, installation_id: str, project_id: str) -> ProjectIndex | None:
    return await session.get(ProjectIndex, (installation_id, project_id))


async def lock_project(session: AsyncSession, installation_id: str, project_id: str, now_ms: int) -> int:
    """Create or touch the project's row and return its file count.

    The touching UPDATE holds the row lock (PostgreSQL) until commit, so two upserts into one
    project run one after the other and the count stays exact; SQLite's write lock does the same.
    """
    insert = dialect_insert(session, ProjectIndex).values(
        installation_id=installation_id, project_id=project_id, updated_at_ms=now_ms, total_files=0
    )
    touched = await session.execute(
        insert.on_conflict_do_update(
            index_elements=["installation_id", "project_id"],
            set_={"updated_at_ms": insert.excluded.updated_at_ms},
        ).returning(ProjectIndex.total_files)
    )
    return int(touched.scalar_one())


async def set_total_files(session: AsyncSession, installation_id: str, project_id: str, total: int) -> None:
    await session.execute(
        update(ProjectIndex)
        .where(ProjectIndex.installation_id == installation_id, ProjectIndex.project_id == project_id)
        .values(total_files=total)
    )


async def existing_paths(
    session: AsyncSession, installation_id: str, project_id: str, paths: Sequence[str]
) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(paths):
        found.update(
            (
                await session.execute(
                    select(ProjectIndexEntry.path).where(
                        *_project_scope(installation_id, project_id), ProjectIndexEntry.path.in_(chunk)
                    )
                )
            ).scalars()
        )
    return found


async def delete_paths(
    session: AsyncSession, installation_id: str, project_id: str, paths: Sequence[str]
) -> int:
    deleted = 0
    for chunk in _chunks(paths):
        result = await session.execute(
            delete(ProjectIndexEntry).where(
                *_project_scope(installation_id, project_id), ProjectIndexEntry.path.in_(chunk)
            )
        )
        deleted += int(getattr(result, "rowcount", 0) or 0)
    return deleted


async def upsert_entries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """One executemany: new paths are inserted, known paths take the new hash and summary."""
    if not rows:
        return
    insert = dialect_insert(session, ProjectIndexEntry)
    statement = insert.on_conflict_do_update(
        index_elements=["installation_id", "project_id", "path"],
        set_={column: insert.excluded[column] for column in _UPDATED_ON_CONFLICT},
    )
    await session.execute(statement, rows)


async def entries_by_path(
    session: AsyncSession, installation_id: str, project_id: str, paths: Sequence[str]
) -> dict[str, Row[*tuple[Any, ...]]]:
    found: dict[str, Row[*tuple[Any, ...]]] = {}
    for chunk in _chunks(paths):
        rows = await session.execute(
            select(*ENTRY_COLUMNS).where(
                *_project_scope(installation_id, project_id), ProjectIndexEntry.path.in_(chunk)
            )
        )
        found.update((str(row.path), row) for row in rows)
    return found


async def first_path_by_hash(
    session: AsyncSession, installation_id: str, project_id: str, hashes: Sequence[str]
) -> dict[str, str]:
    """For each hash, the first path (in the database's order) holding it; read from the hash index."""
    found: dict[str, str] = {}
    for chunk in _chunks(hashes):
        rows = await session.execute(
            select(ProjectIndexEntry.hash, func.min(ProjectIndexEntry.path))
            .where(*_project_scope(installation_id, project_id), ProjectIndexEntry.hash.in_(chunk))
            .group_by(ProjectIndexEntry.hash)
        )
        found.update((file_hash, path) for file_hash, path in rows)
    return found
