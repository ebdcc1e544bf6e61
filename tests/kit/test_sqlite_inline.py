"""SQLite statements run on the loop's thread, and a lock held by another process is waited for
asynchronously: the loop keeps serving, the statement goes through once the lock is free, and it
gives up after BUSY_WAIT_SECONDS. A read-only unit of work never waits for the write lock."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from seecodes.db import Database
from seecodes.kit import sqlite_inline


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Database]:
    database = Database(sqlite_url)
    yield database
    await database.dispose()


def _other_process_locks(sqlite_url: str) -> sqlite3.Connection:
    other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE IF NOT EXISTS lock_probe (n INTEGER)")
    return other


async def _write(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE IF NOT EXISTS inline_probe (n INTEGER)"))
        await session.execute(text("INSERT INTO inline_probe VALUES (1)"))


async def test_a_writer_waits_for_another_process_lock_without_blocking_the_loop(
    db: Database, sqlite_url: str
) -> None:
    other = _other_process_locks(sqlite_url)
    writer = asyncio.create_task(_write(db))
    ticks = 0
    for _ in range(10):
        await asyncio.sleep(0.03)
        ticks += 1
    assert not writer.done()  # still waiting for the lock
    assert ticks == 10  # and the loop kept running meanwhile
    other.commit()
    other.close()
    await asyncio.wait_for(writer, 5)
    async with db.reading() as session:
        assert (await session.execute(text("SELECT count(*) FROM inline_probe"))).scalar_one() == 1


async def test_a_writer_gives_up_after_the_busy_wait(
    db: Database, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_inline, "BUSY_WAIT_SECONDS", 0.2)
    other = _other_process_locks(sqlite_url)
    try:
        with pytest.raises(sa_exc.OperationalError, match="locked"):
            await asyncio.wait_for(_write(db), 5)
    finally:
        other.rollback()
        other.close()


async def test_a_read_only_unit_of_work_does_not_wait_for_the_write_lock(
    db: Database, sqlite_url: str
) -> None:
    other = _other_process_locks(sqlite_url)
    try:
        async with asyncio.timeout(1):
            async with db.reading() as session:
                assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        other.rollback()
        other.close()
