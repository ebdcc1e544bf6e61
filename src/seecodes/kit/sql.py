"""Dialect helpers for the two databases we support."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Executable, Result
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_of(session: AsyncSession) -> str:
    """The name of the database the session talks to ("sqlite" | "postgresql")."""
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """INSERT with ON CONFLICT support for whichever database the session talks to."""
    return insert_for(dialect_of(session), table)


class Statement:
    """A statement built once (per dialect) with named bind parameters, run on the session's own
    connection, in its transaction.

    On the hot paths, building a SQLAlchemy expression costs more than running it: ~0.3 ms for a
    select with a five-column WHERE, against ~0.15 ms to execute the prebuilt one (docs/decisions.md,
    "Performance (issue 12)"). SQLAlchemy caches the compiled SQL of a statement object either way.
    `execute` runs on the connection and skips the ORM's per-execution work, which column-level
    statements do not need; `load` runs one that selects entities through the session.
    """

    __slots__ = ("_build", "_built")

    def __init__(self, build: Callable[[str], Executable]) -> None:
        self._build = build  # called with the dialect name ("sqlite" | "postgresql")
        self._built: dict[str, Executable] = {}

    def _for(self, dialect: str) -> Executable:
        statement = self._built.get(dialect)
        if statement is None:
            statement = self._built[dialect] = self._build(dialect)
        return statement

    async def execute(self, session: AsyncSession, **params: Any) -> Result[Any]:
        connection = await session.connection()
        return await connection.execute(self._for(connection.dialect.name), params)

    async def load(self, session: AsyncSession, **params: Any) -> Result[Any]:
        """Through the session's ORM execution instead: for a select of entities, which the unit
        of work then tracks like any it loaded (the build is still saved)."""
        return await session.execute(self._for(dialect_of(session)), params)


def insert_for(dialect: str, table: Any) -> Any:
    """INSERT with ON CONFLICT support for the named dialect (for `Statement` builders)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
