"""SQLite for the async engine without a thread hop per statement.

aiosqlite runs every call on a thread of its own and wakes the event loop when it is done: for a
statement that takes microseconds on a local file, the hop (queue, thread switch, loop wake-up,
the GIL handed back and forth) costs many times the statement. This gives SQLAlchemy's aiosqlite
dialect (`async_creator`) an object with aiosqlite's interface whose calls run `sqlite3` directly
on the loop's thread. Every statement of ours is an indexed lookup or a small write; the few that
scan (the retrospective board, index queries on large projects) hold the loop as long as they run,
which measured less than the hops they save (docs/decisions.md, "SQLite without a thread hop").

The one wait SQLite can impose is the database lock held by another process (the CLI, a second
server process). The busy handler would sleep with the loop blocked, so these connections have
none (`busy_timeout=0`): a statement refused with SQLITE_BUSY is retried after an asynchronous
sleep, until BUSY_WAIT_SECONDS have passed. Retrying is safe: a statement refused as busy did nothing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

BUSY_WAIT_SECONDS = 15.0
_FIRST_BACKOFF = 0.001
_MAX_BACKOFF = 0.05
_SQLITE_BUSY = 5


def _busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) == _SQLITE_BUSY or "database is locked" in str(error)


async def _retrying_busy(call: Any, *args: Any) -> Any:
    loop = asyncio.get_running_loop()
    deadline: float | None = None
    backoff = _FIRST_BACKOFF
    while True:
        try:
            return call(*args)
        except sqlite3.OperationalError as error:
            if not _busy(error):
                raise
            now = loop.time()
            deadline = now + BUSY_WAIT_SECONDS if deadline is None else deadline
            if now >= deadline:
                raise
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, _MAX_BACKOFF)


class InlineCursor:
    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        await _retrying_busy(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        await _retrying_busy(self._cursor.executemany, sql, list(parameters))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """What SQLAlchemy's aiosqlite adapter calls on an aiosqlite connection, over sqlite3."""

    __slots__ = ("_connection",)

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection: sqlite3.Connection | None = connection

    @property
    def _raw(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    @property
    def isolation_level(self) -> str | None:
        return self._raw.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._raw.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._raw.create_function(*args, **kwargs)

    async def commit(self) -> None:
        await _retrying_busy(self._raw.commit)

    async def rollback(self) -> None:
        self._raw.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def connector(path: str) -> Any:
    """`async_creator` for create_async_engine: a connection that leaves BEGIN to SQLAlchemy's
    begin event (isolation_level None) and never sleeps in SQLite's busy handler."""

    async def connect() -> InlineConnection:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout=0")
        return InlineConnection(connection)

    return connect
