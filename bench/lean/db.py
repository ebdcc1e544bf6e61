"""The lean server's databases: the raw drivers behind one small async interface.

`sqlite3` with one connection per process (`BEGIN IMMEDIATE` for writes, a deferred `BEGIN` for
reads), psycopg 3 either synchronous (one connection per process, called on the event loop: a
transaction never yields, so requests take turns) or asynchronous (a pool of connections). SQL is
written with `?` placeholders; PostgreSQL gets `%s`.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson

SQLITE_BUSY_TIMEOUT_MS = 15_000  # as seecodes (db.SQLITE_BUSY_TIMEOUT_MS)


class Tx:
    """The statements of one transaction. SQL is written with `?`; PostgreSQL gets `%s`."""

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    async def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError


class _SyncTx(Tx):
    """A blocking cursor behind async methods that never suspend: nothing else runs on the event loop
    while a transaction is open, so one connection per process is enough."""

    def __init__(self, cursor: Any, translate: Callable[[str], str]) -> None:
        self._cursor, self._sql = cursor, translate

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(self._sql(sql), params).fetchone()

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self._cursor.execute(self._sql(sql), params).fetchall())

    async def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cursor.execute(self._sql(sql), params)


class _AsyncTx(Tx):
    def __init__(self, connection: Any, translate: Callable[[str], str]) -> None:
        self._connection, self._sql = connection, translate

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cursor = await self._connection.execute(self._sql(sql), params)
        return await cursor.fetchone()

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        cursor = await self._connection.execute(self._sql(sql), params)
        return list(await cursor.fetchall())

    async def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._connection.execute(self._sql(sql), params)


def _sqlite_time(value: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME text, which seecodes compares as text: naive UTC, microseconds.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Database:
    dialect = ""

    def transaction(self, *, write: bool) -> Any:
        raise NotImplementedError

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def time(self, value: datetime) -> Any:
        return value

    def json(self, value: Any) -> Any:
        raise NotImplementedError

    def any_of(self, column: str) -> str:
        """`column` is one of the values bound to the `?` this returns (`values` formats them)."""
        raise NotImplementedError

    def values(self, values: list[str]) -> Any:
        raise NotImplementedError

    def least_greatest(self) -> tuple[str, str]:
        raise NotImplementedError


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None

    async def open(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        # The pragmas seecodes sets on every connection (db.configure_sqlite_connection).
        for pragma in (
            "journal_mode=WAL",
            f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
            "synchronous=NORMAL",
            "foreign_keys=ON",
        ):
            connection.execute(f"PRAGMA {pragma}")
        self._connection = connection

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    @asynccontextmanager
    async def transaction(self, *, write: bool) -> AsyncIterator[Tx]:
        connection = self._connection
        assert connection is not None
        connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield _SyncTx(connection.cursor(), _same)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def time(self, value: datetime) -> Any:
        return _sqlite_time(value)

    def json(self, value: Any) -> Any:
        return orjson.dumps(value).decode()

    def any_of(self, column: str) -> str:
        return f"{column} IN (SELECT value FROM json_each(?))"  # noqa: S608 - a column name of ours

    def values(self, values: list[str]) -> Any:
        return orjson.dumps(values).decode()

    def least_greatest(self) -> tuple[str, str]:
        return "min", "max"  # SQLite's two-argument min()/max()


def _same(sql: str) -> str:
    return sql


@functools.lru_cache(maxsize=256)
def _pg_sql(sql: str) -> str:
    return sql.replace("?", "%s")


class _PostgresBase(Database):
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self._url = url

    def json(self, value: Any) -> Any:
        from psycopg.types.json import Jsonb

        return Jsonb(value, dumps=_orjson_text)

    def any_of(self, column: str) -> str:
        return f"{column} = ANY(?)"

    def values(self, values: list[str]) -> Any:
        return values

    def least_greatest(self) -> tuple[str, str]:
        return "LEAST", "GREATEST"


def _orjson_text(value: Any) -> str:
    return orjson.dumps(value).decode()


# Like seecodes' index queries: a generic plan for `path = ANY($1)` scans the project instead of
# probing the index. seecodes says so per transaction (SET LOCAL); a lean server says it once.
_PG_SESSION_SETUP = "SET plan_cache_mode = force_custom_plan"


class PostgresSyncDatabase(_PostgresBase):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._connection: Any = None

    async def open(self) -> None:
        import psycopg

        self._connection = psycopg.connect(self._url, autocommit=True)
        self._connection.execute(_PG_SESSION_SETUP)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    @asynccontextmanager
    async def transaction(self, *, write: bool) -> AsyncIterator[Tx]:
        with self._connection.transaction():
            yield _SyncTx(self._connection.cursor(), _pg_sql)


class PostgresAsyncDatabase(_PostgresBase):
    def __init__(self, url: str, pool_size: int) -> None:
        super().__init__(url)
        self._pool_size = pool_size
        self._idle: asyncio.Queue[Any] = asyncio.Queue()
        self._all: list[Any] = []

    async def open(self) -> None:
        import psycopg

        for _ in range(self._pool_size):
            connection = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
            await connection.execute(_PG_SESSION_SETUP)
            self._all.append(connection)
            self._idle.put_nowait(connection)

    async def close(self) -> None:
        for connection in self._all:
            await connection.close()

    @asynccontextmanager
    async def transaction(self, *, write: bool) -> AsyncIterator[Tx]:
        connection = await self._idle.get()
        try:
            async with connection.transaction():
                yield _AsyncTx(connection, _pg_sql)
        finally:
            self._idle.put_nowait(connection)


def build_database(url: str, *, pg_driver: str, pg_pool_size: int) -> Database:
    """`url`: sqlite:///path or postgresql://…"""
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url.removeprefix("sqlite:///"))
    if pg_driver == "async":
        return PostgresAsyncDatabase(url, pg_pool_size)
    return PostgresSyncDatabase(url)


def as_utc(value: Any) -> datetime:
    """SQLite hands back text, PostgreSQL an aware datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
